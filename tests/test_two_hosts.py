"""Two hosts, one truth: two independent servers (gunicorn on ports of their own, each with its own
temporary folder, hence its own core slots, and its own Celery worker) on one PostgreSQL and one
Redis, as a deployment behind a load balancer runs them. A client alternates between them; whatever
one host writes or counts, the other honours on its very next request."""

import base64
import json
import secrets

import pytest
from django.conf import settings

from credentials.models import Verification
from tests.credentials.conftest import mails, pair, start_worker, stop_worker, texts  # noqa: F401  fixtures
from tests.test_server import Server

# Each host is gunicorn plus a Celery worker: other processes, which see only committed rows.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.subprocess]

WRONG = "000000"


class Host:
    """One server and its worker, with the keys it runs under; `restart` rolls it to new ones."""

    def __init__(self, name, tmp_path, keys, outboxes, **overrides):
        self.name, self.folder, (self.texts, self.mails) = name, tmp_path / name, outboxes
        self.folder.mkdir()
        self.overrides = overrides
        self.server = self.worker = None
        self.start(keys)

    def environment(self, keys):
        current, retired = keys
        return {
            "TMPDIR": str(self.folder),  # core slots of its own, as on another machine
            "FACENITION_TOKEN_KEY": current,
            "FACENITION_RETIRED_TOKEN_KEYS": retired,
            "WEB_CONCURRENCY": "1",
            **self.overrides,
        }

    def start(self, keys):
        environment = self.environment(keys)
        self.server = Server(self.folder, **environment)
        self.worker, _ = start_worker("celery", self.folder / f"worker-{self.server.port}.log", self.texts, self.mails,
                                      **environment)  # fmt: skip

    def stop(self):
        self.server.stop()
        stop_worker(self.worker)

    def restart(self, keys):
        self.stop()
        self.start(keys)

    def post(self, path, payload, token=None):
        headers = {"X-Auth-Token": token} if token else {}
        status, _, body, _ = self.server.post(path, json.dumps(payload).encode(), headers=headers, timeout=60)
        return status, json.loads(body)


@pytest.fixture(scope="module")
def keys():
    return secrets.token_urlsafe(48), ""


@pytest.fixture(scope="module")
def hosts(django_db_setup, django_db_blocker, tmp_path_factory, keys, texts, mails):  # noqa: F811  fixtures imported above
    """Started once for the module (each start loads the face models); the rolling restart comes last."""
    tmp_path = tmp_path_factory.mktemp("hosts")
    # Only the pair's send limit is tried here (the servers lift the per-address ones, as every test server does).
    limits = {"FACENITION_CODE_SEND_RATE": "2/m", "FACENITION_CODE_SEND_RATE_PER_RECIPIENT": "1000000/m"}
    started = []
    try:
        with django_db_blocker.unblock():
            for name in ("host-a", "host-b"):
                started.append(Host(name, tmp_path, keys, (texts, mails), **limits))
        yield started
    finally:
        for host in started:
            host.stop()


def photos(people, person, *indexes):
    return [base64.b64encode(people[person][i].read()).decode() for i in indexes]


@pytest.fixture
def people(photos_by_identity):
    """The two people with the most single-face photos."""
    ranked = sorted(photos_by_identity, key=lambda person: -len(photos_by_identity[person]))
    return {person: photos_by_identity[person] for person in ranked[:2]}


def test_codes_counts_and_rate_limits_hold_across_hosts(hosts, pair, mails, texts):  # noqa: F811
    a, b = hosts
    email, phone = pair

    assert a.post("/v2/new-credentials", {"email": email, "phone": phone})[0] == 202
    assert b.post("/v2/new-credentials", {"email": email, "phone": phone})[0] == 202
    refused = a.post("/v2/new-credentials", {"email": email, "phone": phone})  # FACENITION_CODE_SEND_RATE=2/m
    assert refused[0] == 429, refused

    email_code, sms_code = mails.wait(email)[-1].code, texts.wait(phone)[-1].code  # sent by either worker
    claim = {"email": email, "phone": phone, "email_code": WRONG, "sms_code": WRONG}
    for attempt in range(settings.FACENITION_CODE_MAX_FAILURES):
        assert (a if attempt % 2 else b).post("/v2/authenticate-credentials", claim)[0] == 401
    locked = a.post("/v2/authenticate-credentials", {**claim, "email_code": email_code, "sms_code": sms_code})
    assert locked[0] == 429, locked  # this caller's five wrong tries were counted on both hosts together
    assert Verification.objects.get(email=email).failed_attempts == settings.FACENITION_CODE_MAX_FAILURES


def test_what_one_host_writes_the_other_honours_at_once(hosts, people):
    a, b = hosts
    ada, bob = people
    token = a.post("/generateToken", {"name": "two hosts"})[1]["token"]

    # An identity token made on one host authenticates on the other.
    made = a.post("/generate", {"image": photos(people, ada, 0, 1, 2), "subject": "ada"}, token)
    assert made[0] == 201, made
    assert b.post("/authenticate", {"token": made[1]["token"], "image": photos(people, ada, 3)}, token)[1][
        "authenticated"
    ]

    # Rotated on one host, the old identity token is refused on the other.
    rotated = b.post("/rotate", {"token": made[1]["token"], "image": photos(people, ada, 0, 1, 2)}, token)
    assert rotated[0] == 200, rotated
    assert a.post("/authenticate", {"token": made[1]["token"], "image": photos(people, ada, 3)}, token)[0] == 410

    # A gallery subject enrolled on one host is found on the other; a forget on one is honoured by the
    # other's very next request, although that host searched the gallery a moment before.
    assert a.post("/gallery/enroll", {"subject": "bob", "image": photos(people, bob, 0, 1)}, token)[0] == 201
    assert b.post("/gallery/enroll", {"subject": "ada", "image": photos(people, ada, 0, 1)}, token)[0] == 201
    for host in (a, b):
        found = host.post("/gallery/identify", {"image": photos(people, bob, 2), "accuracy": 1}, token)
        assert [c["subject"] for c in found[1]["faces"][0]["candidates"]][:1] == ["bob"], found
    assert b.post("/gallery/forget", {"subject": "bob"}, token)[0] == 200
    after = a.post("/gallery/identify", {"image": photos(people, bob, 2), "accuracy": 1}, token)
    assert "bob" not in [c["subject"] for c in after[1]["faces"][0]["candidates"]], after

    # A client token rotated on one host is refused on the other.
    renewed = a.post("/rotateToken", {}, token)
    assert renewed[0] == 201
    assert b.post("/match", {}, token)[0] == 401
    assert b.post("/match", {}, renewed[1]["token"])[0] == 400  # in: only the images are missing


def test_a_rolling_restart_onto_a_new_token_key_keeps_every_token_working(hosts, keys, people, pair, mails, texts):  # noqa: F811
    a, b = hosts
    ada, _ = people
    client = a.post("/generateToken", {"name": "rolling"})[1]["token"]
    live = {"image": photos(people, ada, 3)}
    old = a.post("/generate", {"image": photos(people, ada, 0, 1, 2)}, client)[1]["token"]
    rolled = (secrets.token_urlsafe(48), keys[0])  # the new key, the old one retired

    a.restart(rolled)  # host A first: B still runs on the old key alone
    new = a.post("/generate", {"image": photos(people, ada, 0, 1, 2)}, client)[1]["token"]
    for host in (a, b):
        assert host.post("/authenticate", {**live, "token": old}, client)[1]["authenticated"]
    assert a.post("/authenticate", {**live, "token": new}, client)[1]["authenticated"]
    status, answer = b.post("/authenticate", {**live, "token": new}, client)
    assert status == 409 and "FACENITION_RETIRED_TOKEN_KEYS" in answer["error"]  # said plainly, kept

    b.restart(rolled)  # then host B
    for host in (a, b):
        for token in (old, new):
            assert host.post("/authenticate", {**live, "token": token}, client)[1]["authenticated"]

    # Codes asked on one host, on the new key, sent by either worker, are checked on the other.
    email, phone = pair
    assert a.post("/v2/new-credentials", {"email": email, "phone": phone})[0] == 202
    codes = {"email_code": mails.wait(email)[-1].code, "sms_code": texts.wait(phone)[-1].code}
    confirmed = b.post("/v2/authenticate-credentials", {"email": email, "phone": phone, **codes})
    assert confirmed[0] == 200, confirmed
