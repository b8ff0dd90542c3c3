"""A real server for the tests that need one: gunicorn with the project's config, as `make run`
and the Procfile start it, on a free port of 127.0.0.1."""

import os
import re
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"


# Counts per client address live in the shared Redis from one run to the next, and every test server
# is reached from 127.0.0.1: lifted, so that one run's clients and codes do not spend the next run's.
PER_ADDRESS_LIMITS_LIFTED = {
    name: "1000000/m"
    for name in (
        "FACENITION_V1_TOKEN_RATE_PER_IP",
        "FACENITION_CODE_SEND_RATE_PER_IP",
        "FACENITION_CODE_FAILURE_RATE_PER_IP",
    )
}


@contextmanager
def gunicorn_server(log, **environment):
    """Yields the base URL of a running gunicorn; `log` is the file its output goes to."""
    env = {
        **os.environ,
        "SECRET_KEY": "s" * 50,
        "FACENITION_WARM_UP": "0",
        "WEB_CONCURRENCY": "1",
        "BIND": "127.0.0.1:0",
        **PER_ADDRESS_LIMITS_LIFTED,
        **environment,
    }
    with open(log, "w") as out:
        process = subprocess.Popen(
            [str(GUNICORN), "facenition.wsgi", "--config", "facenition/gunicorn.conf.py"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            text = Path(log).read_text()
            found = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", text)
            if found and "Booting worker" in text:
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"gunicorn did not start:\n{text}")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{found.group(1)}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def database_url(settings_dict):
    """A DATABASE_URL for the database Django is connected to (the test database, in a test)."""
    if settings_dict["ENGINE"] not in ("django.db.backends.postgresql", "facenition.db"):
        return None
    user = settings_dict["USER"] or "postgres"
    password = f":{settings_dict['PASSWORD']}" if settings_dict["PASSWORD"] else ""
    host = settings_dict["HOST"] or "127.0.0.1"
    port = settings_dict["PORT"] or 5432
    return f"postgres://{user}{password}@{host}:{port}/{settings_dict['NAME']}"
