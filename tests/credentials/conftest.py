"""The v2 onboarding runs against real services: PostgreSQL, Redis as cache and broker, a Celery
worker in its own process, a real SMTP server (aiosmtpd) and a fake Twilio REST API, the last
two on 127.0.0.1. The worker gets the providers' addresses, so nothing is written to a console."""

import asyncio
import itertools
import json
import logging
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from base64 import b64encode
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote

import pytest
from aiosmtpd.controller import Controller
from celery.signals import before_task_publish
from django.conf import settings
from django.db import connection
from kombu import Exchange, Queue

from facenition.celery import app as celery_app

from .support import CODE, free_port, request_codes, wait_for

TWILIO_SID = "AC" + "0" * 32
TWILIO_TOKEN = "fake-twilio-auth-token"
TWILIO_SENDER = "+14155550100"
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Delivered:
    to: str
    text: str
    at: float = field(default_factory=time.time)

    @property
    def code(self):
        return CODE.search(self.text).group(1)


class Outbox:
    """What a fake provider received, and which recipients it refuses (how often, -1: always)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.delivered = []
        self.refused = []
        self.refusals = {}
        self.holds = {}
        self.held = []

    def hold(self, to, seconds):
        """The next message to `to` is taken but not answered for `seconds`, as a stalled provider does."""
        with self.lock:
            self.holds[to] = seconds

    def hold_for(self, to):
        with self.lock:
            seconds = self.holds.pop(to, 0)
            if seconds:
                self.held.append(Delivered(to, ""))
            return seconds

    def refuse(self, to, times=-1):
        with self.lock:
            self.refusals[to] = times

    def should_refuse(self, to):
        with self.lock:
            left = self.refusals.get(to, 0)
            if left == 0:
                return False
            self.refusals[to] = left - 1 if left > 0 else left
            self.refused.append(Delivered(to, ""))
            return True

    def add(self, to, text):
        with self.lock:
            self.delivered.append(Delivered(to, text))

    def to(self, recipient):
        with self.lock:
            return [d for d in self.delivered if d.to == recipient]

    def refused_to(self, recipient):
        with self.lock:
            return [d for d in self.refused if d.to == recipient]

    def wait(self, recipient, count=1, timeout=20.0):
        """The messages to `recipient`, once at least `count` have arrived."""

        def arrived():
            messages = self.to(recipient)
            return messages if len(messages) >= count else None

        return wait_for(arrived, timeout, f"{count} message(s) to {recipient}")


class FakeTwilioHandler(BaseHTTPRequestHandler):
    outbox = None  # set per server

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        form = {key: values[0] for key, values in parse_qs(self.rfile.read(length).decode()).items()}
        expected = "Basic " + b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
        if (
            self.path != f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
            or self.headers.get("Authorization") != expected
        ):
            return self.answer(401, {"code": 20003, "message": "Authenticate", "status": 401})
        if form.get("From") != TWILIO_SENDER:
            return self.answer(400, {"code": 21212, "message": "Invalid From Number", "status": 400})
        if self.outbox.should_refuse(form["To"]):
            return self.answer(503, {"code": 20503, "message": "Service unavailable (fake outage)", "status": 503})
        self.outbox.add(form["To"], form["Body"])
        self.answer(201, {"sid": "SM" + uuid.uuid4().hex, "status": "queued", "to": form["To"], "from": form["From"]})

    def answer(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="session")
def texts():
    """The fake Twilio REST API, and the texts it was asked to send."""
    outbox = Outbox()
    handler = type("Handler", (FakeTwilioHandler,), {"outbox": outbox})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    outbox.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield outbox
    server.shutdown()
    server.server_close()


class SmtpSink:
    def __init__(self, outbox):
        self.outbox = outbox

    async def handle_DATA(self, server, session, envelope):
        for recipient in envelope.rcpt_tos:
            seconds = self.outbox.hold_for(recipient)
            if seconds:
                await asyncio.sleep(seconds)
                return "451 4.3.0 Held too long (fake stall)"
        for recipient in envelope.rcpt_tos:
            if self.outbox.should_refuse(recipient):
                return "451 4.3.0 Mailbox temporarily unavailable (fake outage)"
        message = message_from_bytes(envelope.content, policy=default_policy)
        for recipient in envelope.rcpt_tos:
            self.outbox.add(recipient, message.get_content())
        return "250 OK"


@pytest.fixture(scope="session")
def mails():
    """A real SMTP server on 127.0.0.1, and the mail it took."""
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # it would log each message it takes
    outbox = Outbox()
    controller = Controller(SmtpSink(outbox), hostname="127.0.0.1", port=free_port())
    controller.start()
    outbox.port = controller.port
    yield outbox
    controller.stop()


def database_url(settings_dict):
    user = quote(settings_dict["USER"] or "")
    password = f":{quote(settings_dict['PASSWORD'])}" if settings_dict.get("PASSWORD") else ""
    return (
        f"postgres://{user}{password}@{settings_dict['HOST']}:{settings_dict['PORT'] or 5432}/{settings_dict['NAME']}"
    )


@pytest.fixture(scope="session", autouse=True)
def delivery_queue():
    """A queue of this test run's own, so that no other run's worker takes our tasks (nor ours theirs)."""
    name = f"credentials-tests-{uuid.uuid4().hex[:12]}"
    previous = celery_app.conf.task_routes
    celery_app.conf.task_routes = {"credentials.tasks.*": {"queue": name}}
    yield name
    celery_app.conf.task_routes = previous
    with celery_app.connection_for_write() as broker:
        queue = Queue(name, Exchange(name), routing_key=name)(broker.default_channel)
        queue.declare()  # lets this connection know the queue's bindings, so that delete removes them too
        queue.delete()


class WorkerLog:
    def __init__(self, path):
        self.path = path

    def text(self):
        return self.path.read_text()


def start_worker(queue, log_path, texts, mails, **overrides):
    """`celery worker` in its own process, on the test database and `queue`, with the fake providers;
    returns the process and its log once it is ready."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "facenition.settings",
        "DATABASE_URL": database_url(connection.settings_dict),
        "REDIS_URL": settings.REDIS_URL,
        "SECRET_KEY": settings.SECRET_KEY,
        "FACENITION_TOKEN_KEY": settings.FACENITION_TOKEN_KEY,
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(mails.port),
        "EMAIL_HOST_USER": "",
        "EMAIL_HOST_PASSWORD": "",
        "EMAIL_USE_TLS": "false",
        "EMAIL_USE_SSL": "false",
        "TWILIO_ACCOUNT_SID": TWILIO_SID,
        "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "TWILIO_DEFAULT_CALLERID": TWILIO_SENDER,
        "FACENITION_TWILIO_API_URL": texts.url,
        "FACENITION_DELIVERY_RETRY_SECONDS": "1",
        "FACENITION_CODE_LIFETIME_SECONDS": str(settings.FACENITION_CODE_LIFETIME_SECONDS),
        **overrides,
    }
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "facenition",
        "worker",
        "--queues",
        queue,
        "--hostname",
        f"{queue}-{uuid.uuid4().hex[:6]}@%h",
        "--pool",
        "solo",
        "--loglevel",
        "INFO",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    with log_path.open("w") as log_file:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    log = WorkerLog(log_path)
    try:
        wait_for(lambda: " ready." in log.text() or process.poll() is not None, 60, "the Celery worker to start")
    except AssertionError:
        stop_worker(process)
        raise
    if process.poll() is not None:
        pytest.fail(f"the Celery worker exited at start:\n{log.text()}")
    return process, log


def stop_worker(process):
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def worker(django_db_setup, delivery_queue, texts, mails, tmp_path_factory):
    """`celery worker` in its own process, on the test database and our queue, with the fake providers."""
    if not settings.REDIS_URL or connection.vendor != "postgresql":
        pytest.fail("the v2 onboarding tests need PostgreSQL (DATABASE_URL) and Redis (REDIS_URL); see `make test`")
    process, log = start_worker(delivery_queue, tmp_path_factory.mktemp("worker") / "worker.log", texts, mails)
    try:
        yield log
    finally:
        stop_worker(process)


_phone_numbers = itertools.count(random.randrange(10_000))


@pytest.fixture
def pair():
    """An email address and a phone number no other test in this run uses."""
    return f"{uuid.uuid4().hex[:12]}@example.test", f"+1415555{next(_phone_numbers) % 10_000:04d}"


@pytest.fixture
def published():
    """Every task message this process hands to the broker, as the text that goes over the wire."""
    messages = []

    def record(sender=None, body=None, headers=None, properties=None, **kwargs):
        messages.append(json.dumps({"body": body, "headers": headers, "properties": properties}, default=str))

    before_task_publish.connect(record, weak=False)
    yield messages
    before_task_publish.disconnect(record)


@pytest.fixture
def broker_down():
    """`with broker_down():` points this process's Celery publisher at a port where no broker listens."""
    previous = celery_app.conf.broker_url

    def reconnect(url):
        celery_app.conf.broker_url = url
        celery_app._pool = None
        celery_app.amqp._producer_pool = None

    @contextmanager
    def outage():
        reconnect(f"redis://127.0.0.1:{free_port()}/0")
        try:
            yield
        finally:
            reconnect(previous)

    return outage


@pytest.fixture
def delivered_codes(api, worker, mails, texts):
    """Asks for codes for a pair and returns (email code, SMS code) as they arrived."""

    def deliver(email, phone):
        response = request_codes(api, email, phone)
        assert response.status_code == 202, response.json()
        return mails.wait(email)[-1].code, texts.wait(phone)[-1].code

    return deliver
