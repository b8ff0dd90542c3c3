"""The server as the Procfile runs it (gunicorn with facenition/gunicorn.conf.py) under what an
attacker or a failing service does: slow clients, malformed requests, huge images, a database
that accepts connections and never answers. Each test talks to a real server over a socket."""

import io
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from PIL import Image

from tests.credentials.conftest import database_url
from tests.live import PER_ADDRESS_LIMITS_LIFTED

REPO = Path(__file__).resolve().parents[1]
PORTS = range(18112, 18200)
BOOT_SECONDS = 120

# gunicorn, another process, works on the test database: it sees only committed rows.
pytestmark = pytest.mark.django_db(transaction=True)


def free_port():
    for port in PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS}")


LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")


class Server:
    """gunicorn on a port of 127.0.0.1, with the Procfile's settings and `overrides` in its environment."""

    def __init__(self, tmp_path, **overrides):
        # Port 0: the kernel picks a free port as gunicorn binds, so that no other process can take it
        # between a check and the bind (the models load first, for seconds); the log says which.
        self.port = None
        self.log_path = tmp_path / f"gunicorn-{uuid.uuid4().hex[:8]}.log"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "facenition.settings",
            "DATABASE_URL": database_url(connection.settings_dict),
            "REDIS_URL": settings.REDIS_URL,
            "SECRET_KEY": settings.SECRET_KEY,
            "BIND": "127.0.0.1:0",
            "WEB_CONCURRENCY": "2",
            **PER_ADDRESS_LIMITS_LIFTED,
            **overrides,
        }
        command = [sys.executable, "-m", "gunicorn", "facenition.wsgi", "--config", "facenition/gunicorn.conf.py"]
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + BOOT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"gunicorn exited at start:\n{self.log()}")
            if self.port is None and (listening := LISTENING.search(self.log())):
                self.port = int(listening.group(1))
            if self.port and len(self.workers()) == int(env["WEB_CONCURRENCY"]) and self.answers():
                return
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"gunicorn did not start within {BOOT_SECONDS} s:\n{self.log()}")

    def log(self):
        return self.log_path.read_text()

    def answers(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def workers(self):
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(pid) for pid in children.read_text().split()]
        except OSError:
            return []

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def post(self, path, body=b"", content_type="application/json", headers=None, timeout=30.0):
        """(status, headers, body bytes, seconds) of one request on a connection of its own."""
        head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Type: {content_type}"]
        head += [f"Content-Length: {len(body)}", "Connection: close"] + [
            f"{k}: {v}" for k, v in (headers or {}).items()
        ]
        return self.raw("\r\n".join(head).encode() + b"\r\n\r\n" + body, timeout=timeout)

    def raw(self, data, timeout=30.0):
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as client:
            client.sendall(data)
            return read_response(client, started)


def read_response(client, started):
    received = b""
    while True:
        chunk = client.recv(65536)
        if not chunk:
            break
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    return status, headers, body, time.monotonic() - started


def envelope(response, status):
    code, headers, body, _ = response
    assert code == status, body[:500]
    assert headers["content-type"].startswith("application/json"), body[:500]
    answer = json.loads(body)
    assert answer["ok"] is False and answer["error"]
    return answer["error"]


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, tmp_path_factory):
    with django_db_blocker.unblock():
        running = Server(tmp_path_factory.mktemp("server"), FACENITION_BODY_READ_SECONDS="4")
    yield running
    running.stop()


def test_it_answers_gunicorns_own_refusals_with_the_envelope(server):
    bad_length = b"POST /generateToken HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"
    long_url = b"POST /" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    big_headers = b"POST /generateToken HTTP/1.1\r\nHost: x\r\n" + b"".join(
        f"X-Filler-{i}: {'b' * 1000}\r\n".encode() for i in range(100)
    )
    assert "could not be parsed" in envelope(server.raw(bad_length), 400)
    assert "too long" in envelope(server.raw(long_url), 414)
    assert "headers" in envelope(server.raw(big_headers + b"\r\n"), 431)


def trickle(port, stop, path="/generateToken"):
    """A client announcing a 1,000-byte JSON body and sending it a byte a second."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=60) as client:
            client.sendall(
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                "Content-Length: 1000\r\n\r\n".encode()
            )
            while not stop.is_set():
                client.sendall(b" ")
                stop.wait(1.0)
    except OSError:
        pass


def test_two_slow_clients_do_not_starve_the_server(server):
    stop = threading.Event()
    slow = [threading.Thread(target=trickle, args=(server.port, stop), daemon=True) for _ in range(2)]
    for client in slow:
        client.start()
    time.sleep(1.5)  # both are in their bodies now
    try:
        answers = []
        for _ in range(4):
            answers.append(server.post("/generateToken", b'{"name": "beside slow clients"}', timeout=10))
        assert [a[0] for a in answers] == [201] * 4
        assert max(a[3] for a in answers) < 2
    finally:
        stop.set()


def trickled(server, head, drip):
    """The answer to a request whose `head` is sent at once and whose body then comes as `drip`
    every half second, until the server answers."""
    started = time.monotonic()
    stop = threading.Event()
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as client:
        client.sendall(head)

        def send():
            while not stop.wait(0.5):
                try:
                    client.sendall(drip)
                except OSError:
                    return

        dripping = threading.Thread(target=send, daemon=True)
        dripping.start()
        try:
            return read_response(client, started)
        finally:
            stop.set()
            dripping.join()


def test_a_body_that_trickles_in_is_cut_off_with_408(server):
    head = (
        b"POST /generateToken HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n{"
    )

    response = trickled(server, head, b" ")

    assert "took longer than 4 s to arrive" in envelope(response, 408)
    assert response[3] < 8


def rss_kb(pid, field="VmRSS"):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} missing for {pid}")


def blank_png(width, height, mode="RGBA"):
    buffer = io.BytesIO()
    color = (255, 255, 255, 0) if mode == "RGBA" else 255
    Image.new(mode, (width, height), color).save(buffer, format="PNG", compress_level=9)
    return buffer.getvalue()


def multipart(fields):
    boundary = "facenition-test-boundary"
    parts = []
    for name, content in fields:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}.png"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode()
            + content
            + b"\r\n"
        )
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def peak_growth_mb(server, send):
    """What `send()` returns, and the largest growth of any worker's peak RSS over its RSS before, in MB."""
    before = {}
    for pid in server.workers():
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets the peak (VmHWM) to the current RSS
        before[pid] = rss_kb(pid)
    result = send()
    growth = max(rss_kb(pid, "VmHWM") - before[pid] for pid in before)
    return result, growth / 1024


@pytest.fixture
def client_token(server):
    status, _, body, _ = server.post("/generateToken", b'{"name": "memory"}')
    assert status == 201
    return json.loads(body)["token"]


def test_twenty_tiny_forty_megapixel_uploads_are_refused_at_once_without_decoding(server, client_token):
    blank = blank_png(8000, 5000, mode="L")
    body, content_type = multipart([("image", blank)] * 10 + [("reference", blank)] * 10)
    assert len(body) < 1_000_000

    response, growth = peak_growth_mb(
        server, lambda: server.post("/match", body, content_type, {"X-Auth-Token": client_token}, timeout=20)
    )

    assert "at most 240 are accepted per request" in envelope(response, 400)
    assert response[3] < 1.0
    assert growth < 50


def test_a_one_pixel_wide_strip_is_refused_at_once(server, client_token):
    strip = blank_png(1, 39_000_000, mode="L")
    body, content_type = multipart([("image", strip), ("reference", strip)])

    response = server.post("/match", body, content_type, {"X-Auth-Token": client_token}, timeout=20)

    assert "too narrow for a photo" in envelope(response, 400)
    assert response[3] < 1.0


def test_the_largest_accepted_images_stay_within_400_mb_of_the_idle_worker(server, client_token):
    # Six 40-megapixel transparent PNGs: the request's whole pixel budget, each image at the per-image limit.
    blank = blank_png(8000, 5000)
    body, content_type = multipart([("image", blank)] * 3 + [("reference", blank)] * 3)

    response, growth = peak_growth_mb(
        server, lambda: server.post("/match", body, content_type, {"X-Auth-Token": client_token}, timeout=30)
    )

    assert "no face found" in envelope(response, 400)
    assert growth < 400


@pytest.fixture
def silent_server():
    """A TCP server on 127.0.0.1 that accepts connections and never says a word: a frozen service."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", free_port()))
    listener.listen(64)
    held = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for held_connection in held:
        held_connection.close()
    listener.close()


@pytest.mark.subprocess
def test_a_database_that_never_answers_gets_a_502_envelope_within_ten_seconds(silent_server, tmp_path):
    frozen_database = f"postgres://postgres@127.0.0.1:{silent_server}/frozen"
    frozen = Server(tmp_path, DATABASE_URL=frozen_database, FACENITION_WARM_UP="false")
    try:
        workers = set(frozen.workers())
        for _ in range(2):
            response = frozen.post("/generateToken", b'{"name": "frozen database"}', timeout=30)
            assert "request id" in envelope(response, 502)
            assert response[3] < 10
        assert set(frozen.workers()) == workers  # the same workers answered: none was killed
    finally:
        frozen.stop()


@pytest.mark.subprocess
def test_a_redis_that_never_answers_gets_a_502_envelope_within_ten_seconds(silent_server, tmp_path):
    frozen = Server(tmp_path, REDIS_URL=f"redis://127.0.0.1:{silent_server}/0", FACENITION_WARM_UP="false")
    try:
        for _ in range(2):
            response = frozen.post("/generateToken", b'{"name": "frozen redis"}', timeout=30)
            assert "unreachable" in envelope(response, 502)
            assert response[3] < 10
    finally:
        frozen.stop()


def chunked(path, body, content_type, headers, piece=16_384):
    """A request whose body is sent chunked, without a Content-Length, in pieces of `piece` bytes."""
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Type: {content_type}"]
    head += ["Transfer-Encoding: chunked", "Connection: close"] + [f"{k}: {v}" for k, v in headers.items()]
    pieces = [body[at : at + piece] for at in range(0, len(body), piece)]
    return (
        "\r\n".join(head).encode()
        + b"\r\n\r\n"
        + b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in pieces)
        + b"0\r\n\r\n"
    )


def test_a_chunked_body_is_read_as_a_form_and_as_json(server, client_token, photo):
    first, second = photo("deepface-a_img1.jpg"), photo("deepface-a_img2.jpg")
    form, form_type = multipart([("image", first.read()), ("reference", second.read())])
    as_json = json.dumps({"image": first.b64(), "reference": second.b64()}).encode()

    for body, content_type in ((form, form_type), (as_json, "application/json")):
        response = server.raw(chunked("/match", body, content_type, {"X-Auth-Token": client_token}))
        status, _, answer, _ = response
        assert status == 200, answer[:300]
        assert json.loads(answer)["match"] is True


def test_a_chunked_body_that_trickles_in_is_cut_off_with_408(server):
    head = chunked("/generateToken", b"", "application/json", {}).rsplit(b"0\r\n\r\n", 1)[0]

    response = trickled(server, head, b"1\r\n \r\n")

    assert "took longer than 4 s to arrive" in envelope(response, 408)
    assert response[3] < 8


@pytest.mark.subprocess
def test_a_chunked_body_over_the_size_limit_is_refused(tmp_path):
    small = Server(tmp_path, FACENITION_MAX_IMAGE_BYTES="65536", FACENITION_WARM_UP="false")
    try:
        limit = 2 * 10 * 65536 * 4 // 3 + 1024 * 1024  # FACENITION_MAX_REQUEST_BYTES with these images
        body = b'{"image": "' + b"A" * limit + b'"}'
        response = small.raw(chunked("/generateToken", body, "application/json", {}))
        assert "The request is too large" in envelope(response, 400)
    finally:
        small.stop()


class StallingProxy:
    """A TCP proxy on 127.0.0.1 to PostgreSQL that can be told to stall: it then stops forwarding in
    both directions, its connections left open, as a frozen server or a stalled network does."""

    def __init__(self, target):
        self.target = target
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", free_port()))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.flowing = threading.Event()
        self.flowing.set()
        self.closing = threading.Event()
        self.sockets = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        self.listener.settimeout(0.2)
        while not self.closing.is_set():
            try:
                client = self.listener.accept()[0]
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source, sink):
        import select

        while not self.closing.is_set():
            if not self.flowing.wait(0.1) or not select.select([source], [], [], 0.1)[0]:
                continue
            try:
                data = source.recv(65536)
                if not data:
                    sink.shutdown(socket.SHUT_WR)
                    return
                sink.sendall(data)
            except OSError:
                return

    def stall(self):
        self.flowing.clear()

    def resume(self):
        self.flowing.set()

    def close(self):
        self.closing.set()
        self.listener.close()
        for held in self.sockets:
            held.close()


@pytest.fixture
def database_proxy():
    host = connection.settings_dict["HOST"] or "127.0.0.1"
    proxy = StallingProxy((host, int(connection.settings_dict["PORT"] or 5432)))
    yield proxy
    proxy.close()


@pytest.fixture
def proxied_server(database_proxy, tmp_path):
    """gunicorn on the test database through `database_proxy`; returns (server, a client token).
    One worker of 8 threads, so that 8 requests at once each have a thread and its own connection,
    and what a request waits for is the database, not its turn."""
    proxied_url = database_url(connection.settings_dict).replace(
        f":{connection.settings_dict['PORT'] or 5432}/", f":{database_proxy.port}/"
    )
    running = Server(
        tmp_path,
        DATABASE_URL=proxied_url,
        WEB_CONCURRENCY="1",
        GUNICORN_THREADS="8",
        FACENITION_WARM_UP="false",
        FACENITION_BODY_READ_SECONDS="1",
    )
    try:
        status, _, body, _ = running.post("/generateToken", b'{"name": "stalled database"}')
        assert status == 201, body
        yield running, json.loads(body)["token"]
    finally:
        running.stop()


def list_subjects(server, token, timeout=30.0):
    return server.post("/gallery/subjects", b'{"page": 1}', headers={"X-Auth-Token": token}, timeout=timeout)


@pytest.mark.subprocess
def test_a_database_that_stalls_on_open_connections_gets_502s_within_ten_seconds(proxied_server, database_proxy):
    server, token = proxied_server
    # Every thread holds a connection: eight requests at once, twice over.
    for _ in range(2):
        with ThreadPoolExecutor(8) as pool:
            assert {r[0] for r in pool.map(lambda _: list_subjects(server, token), range(8))} == {200}

    database_proxy.stall()
    with ThreadPoolExecutor(8) as pool:
        stalled = list(pool.map(lambda _: list_subjects(server, token, timeout=20), range(8)))
    for response in stalled:
        assert "request id" in envelope(response, 502)
        assert response[3] < 10, server.log()[-8000:]

    database_proxy.resume()  # the threads are free again, and the next connections work
    answers = [list_subjects(server, token, timeout=10) for _ in range(8)]
    assert [a[0] for a in answers] == [200] * 8


@pytest.mark.subprocess
def test_a_database_pause_before_the_body_is_read_is_not_blamed_on_the_client(proxied_server, database_proxy):
    server, token = proxied_server
    assert list_subjects(server, token)[0] == 200  # a connection is open

    database_proxy.stall()
    threading.Timer(2, database_proxy.resume).start()  # longer than the body's 1 s, shorter than any bound
    status, _, body, seconds = list_subjects(server, token)

    assert status == 200, body
    assert 2 <= seconds < 10
