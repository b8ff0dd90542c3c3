"""The server as `make run` and the Procfile start it: gunicorn with the project's config."""

import json
import re
import time
import urllib.error
import urllib.request

import pytest

from tests.live import gunicorn_server


@pytest.fixture
def gunicorn(tmp_path):
    """Starts gunicorn with the given environment (an SQLite file for a database); returns
    (base URL, a function that reads its log so far)."""
    servers = []

    def start(**environment):
        log = tmp_path / "gunicorn.log"
        server = gunicorn_server(log, DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", **environment)
        servers.append(server)
        return server.__enter__(), log.read_text

    yield start
    for server in servers:
        server.__exit__(None, None, None)


def get(url, **headers):
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_the_admin_is_styled_under_gunicorn(gunicorn):
    base, _ = gunicorn()
    status, headers, body = get(f"{base}/static/admin/css/base.css")
    assert status == 200
    assert headers["Content-Type"].startswith("text/css")
    assert b"body" in body


def test_json_logs_carry_the_request_id_in_request_and_access_lines(gunicorn):
    base, log = gunicorn(LOG_FORMAT="json", REDIS_URL="redis://127.0.0.1:1/0")  # nothing listens on port 1

    status, headers, body = get(f"{base}/ready", **{"X-Request-Id": "probe-1"})
    assert status == 503
    assert json.loads(body)["checks"]["cache"].startswith("failing")
    assert headers["X-Request-Id"] == "probe-1"

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any(line.get("status") == 503 for line in json_lines(log())):
        time.sleep(0.1)
    mine = [line for line in json_lines(log()) if line["request_id"] == "probe-1"]
    assert any(line["logger"] == "facenition" and "readiness check cache failed" in line["message"] for line in mine)
    access = [line for line in mine if line["logger"] == "facenition.access"]
    assert len(access) == 1
    assert access[0]["path"] == "/ready" and access[0]["status"] == 503 and access[0]["method"] == "GET"


def test_plain_access_lines_carry_the_request_id(gunicorn):
    base, log = gunicorn()
    status, headers, _ = get(f"{base}/health")
    assert status == 200
    request_id = headers["X-Request-Id"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and f"[{request_id}]" not in log():
        time.sleep(0.1)
    assert re.search(rf"INFO facenition\.access \[{request_id}\] 127\.0\.0\.1 \"GET /health\" 200", log())


def test_an_access_log_format_of_ones_own_is_kept(gunicorn):
    base, log = gunicorn(GUNICORN_CMD_ARGS="--access-logformat 'custom %(r)s id=%({x-request-id}o)s'")
    get(f"{base}/nope", **{"X-Request-Id": "mine-1"})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "custom GET" not in log():
        time.sleep(0.1)
    assert "custom GET /nope HTTP/1.1 id=mine-1" in log()


@pytest.mark.subprocess
def test_the_celery_worker_logs_json_too(tmp_path, settings):
    import os
    import subprocess
    import sys
    from pathlib import Path

    if not settings.REDIS_URL:
        pytest.skip("a Celery worker needs REDIS_URL; make test sets it")
    log = tmp_path / "worker.log"
    env = {**os.environ, "SECRET_KEY": "s" * 50, "LOG_FORMAT": "json", "REDIS_URL": settings.REDIS_URL}
    command = [sys.executable, "-m", "celery", "-A", "facenition", "worker", "--pool", "solo", "--loglevel", "INFO"]
    command += ["--queues", f"logs-{tmp_path.name}", "--without-gossip", "--without-mingle", "--without-heartbeat"]
    with open(log, "w") as out:
        process = subprocess.Popen(command, cwd=Path(__file__).resolve().parent.parent, env=env, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and " ready." not in log.read_text() and process.poll() is None:
            time.sleep(0.2)
    finally:
        process.terminate()
        process.wait(timeout=30)
    ready = [line for line in json_lines(log.read_text()) if line["message"].endswith(" ready.")]
    assert ready, log.read_text()
    assert ready[0]["request_id"] == "-" and ready[0]["level"] == "INFO"


def test_gunicorns_own_refusals_are_answered_and_logged(gunicorn):
    import socket
    from urllib.parse import urlsplit

    base, log = gunicorn(LOG_FORMAT="json")
    with socket.create_connection((urlsplit(base).hostname, urlsplit(base).port), timeout=30) as client:
        client.sendall(b"POST /generateToken HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")
        answer = client.recv(65536)
    assert answer.startswith(b"HTTP/1.1 400")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any(line.get("status") == 400 for line in json_lines(log())):
        time.sleep(0.1)
    assert [line["path"] for line in json_lines(log()) if line.get("status") == 400] == ["/generateToken"]


SECRETS_IN_QUERY = "q=ada@example.com&auth_token=fnc_x&%2B15551234567"


def test_access_lines_keep_no_query_value(gunicorn):
    base, log = gunicorn(LOG_FORMAT="json")
    get(f"{base}/health?{SECRETS_IN_QUERY}", **{"X-Request-Id": "query-1"})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "query-1" not in log():
        time.sleep(0.1)
    [line] = [line for line in json_lines(log()) if line["logger"] == "facenition.access"]
    assert '"GET /health?q=[redacted]&auth_token=[redacted]&[redacted]" 200' in line["message"]
    assert not any(secret in log() for secret in ("ada@example.com", "fnc_x", "15551234567"))


def test_an_access_log_format_of_ones_own_keeps_no_query_value(gunicorn):
    base, log = gunicorn(GUNICORN_CMD_ARGS="--access-logformat 'custom %(r)s q=%(q)s'")
    get(f"{base}/health?{SECRETS_IN_QUERY}")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "custom GET" not in log():
        time.sleep(0.1)
    assert "custom GET /health?q=[redacted]&auth_token=[redacted]&[redacted] HTTP/1.1 q=q=[redacted]" in log()
    assert not any(secret in log() for secret in ("ada@example.com", "fnc_x", "15551234567"))


def answer_on(sock):
    """(status, headers with lower-case names, body) of one answer read from `sock`."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed before an answer: {received!r}"
        received += chunk
    head, body = received.split(b"\r\n\r\n", 1)
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, value in (line.split(":", 1) for line in lines)}

    def complete():
        if headers.get("transfer-encoding") == "chunked":
            return body.endswith(b"0\r\n\r\n")
        return len(body) >= int(headers["content-length"])

    while not complete():
        body += sock.recv(65536)
    return int(status.split()[1]), headers, body


def post_head(path, length):
    return f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n".encode()


def connect(base):
    import socket
    from urllib.parse import urlsplit

    return socket.create_connection((urlsplit(base).hostname, urlsplit(base).port), timeout=30)


def test_a_body_refused_by_its_size_is_answered_with_connection_close(gunicorn):
    base, _ = gunicorn()
    with connect(base) as client:
        client.sendall(post_head("/match", 10**9) + b"{" * 4096)
        status, headers, body = answer_on(client)
        assert status == 400 and b"at most" in body
        assert headers["connection"] == "close"
        while client.recv(65536):
            pass  # the server closes its side once the answer is sent


def test_a_short_unread_body_keeps_the_connection_and_a_long_one_closes_it(gunicorn):
    base, _ = gunicorn()
    with connect(base) as client:
        client.sendall(post_head("/nope", 1024) + b" " * 1024)
        status, headers, _ = answer_on(client)
        assert status == 404 and headers["connection"] == "keep-alive"

        client.sendall(post_head("/nope", 200 * 1024) + b" " * 1024)
        status, headers, _ = answer_on(client)
        assert status == 404 and headers["connection"] == "close"


@pytest.mark.subprocess
def test_an_address_in_use_is_refused_at_once_naming_bind(tmp_path):
    import os
    import socket
    import subprocess
    import sys
    from pathlib import Path

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        env = {key: value for key, value in os.environ.items() if key != "FACENITION_BIND_CHECKED"}
        env.update(SECRET_KEY="s" * 50, BIND=address, DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
        started = time.monotonic()
        finished = subprocess.run(
            [sys.executable, "-m", "gunicorn", "facenition.wsgi", "--config", "facenition/gunicorn.conf.py"],
            cwd=Path(__file__).resolve().parent.parent,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert finished.returncode != 0
    assert time.monotonic() - started < 8  # before the models load
    assert f"Cannot serve on {address}: another process is already listening there" in finished.stderr
    assert "BIND" in finished.stderr
