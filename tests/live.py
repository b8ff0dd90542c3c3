"""A real server for the tests that need one: gunicorn with the project's config, as `make run`
and the Procfile start it, on a free port of 127.0.0.1; the front the containers ship (nginx with
deploy/nginx.conf) before it; and slow clients to throw at either. bench/slow_clients.py uses the
last two as well."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager, suppress
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"
FRONT_CONFIG = ROOT / "deploy" / "nginx.conf"


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


def nginx_binary():
    """nginx's path (Debian installs it in /usr/sbin, which a user's PATH may lack), or None."""
    found = shutil.which("nginx") or "/usr/sbin/nginx"
    return found if Path(found).is_file() else None


@contextmanager
def nginx_front(upstream, workdir):
    """nginx running deploy/nginx.conf, filled in as `docker-entrypoint.sh front` does, on a free port
    of 127.0.0.1 and passing requests to `upstream` ("127.0.0.1:PORT"); yields its port. `workdir` is
    its prefix (configuration, pid, temporary files); its output goes to `workdir`/nginx.log."""
    binary = nginx_binary()
    if binary is None:
        raise RuntimeError("nginx is not installed: `make nginx` installs Debian's nginx-light")
    workdir = Path(workdir)
    for _ in range(5):  # the port is free when probed; another process may take it before nginx binds
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        config = FRONT_CONFIG.read_text()
        config = config.replace("${FRONT_LISTEN}", f"127.0.0.1:{port}").replace("${FRONT_UPSTREAM}", upstream)
        (workdir / "nginx.conf").write_text(config)
        log = workdir / "nginx.log"
        with log.open("w") as out:
            # A session of its own, so that its workers are stopped with it whatever happens to the master.
            process = subprocess.Popen(
                [binary, "-p", str(workdir), "-e", "stderr", "-c", str(workdir / "nginx.conf")],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if _listening(process, port):
            break
        _stop(process)
        if "Address already in use" not in log.read_text():
            raise RuntimeError(f"nginx did not start:\n{log.read_text()}")
    else:
        raise RuntimeError(f"nginx found no free port:\n{log.read_text()}")
    try:
        yield port
    finally:
        _stop(process)


def _listening(process, port):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def _stop(process):
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # any worker left behind by its master


TRICKLED_BODY = (
    b"POST /generateToken HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b"Content-Length: 100000\r\n\r\n",
    b" ",
)
TRICKLED_HEADERS = (b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n", b"X-Slow: 1\r\n")


@contextmanager
def slow_clients(port, bodies=16, headers=16):
    """`bodies` connections to 127.0.0.1:`port` that send their headers and then a byte of their body a
    second, and `headers` that send a header line a second; each comes back at once when it is cut
    off, as an attacker would. Yields a function that says how many are connected at that moment."""
    stop = threading.Event()
    connected = []  # one entry per open connection (list.append and remove are atomic)

    def trickle(head, drip):
        while not stop.is_set():
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                    connected.append(sock)
                    try:
                        sock.sendall(head)
                        while not stop.wait(1.0):
                            sock.sendall(drip)
                    finally:
                        connected.remove(sock)
            except OSError:
                stop.wait(0.1)

    threads = [threading.Thread(target=trickle, args=TRICKLED_BODY, daemon=True) for _ in range(bodies)]
    threads += [threading.Thread(target=trickle, args=TRICKLED_HEADERS, daemon=True) for _ in range(headers)]
    for thread in threads:
        thread.start()
    try:
        yield lambda: len(connected)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
