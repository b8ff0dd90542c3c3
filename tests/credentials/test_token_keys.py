"""The web process and the worker must derive a verification's codes from the same token key: the
key is recorded on the verification, a process without it fails loudly, and /ready says which
workers lack the web process's key."""

import logging
import secrets

import pytest

from credentials.models import Channel, Delivery, Verification
from credentials.tasks import deliver_code
from credentials.worker_keys import PREFIX, worker_keys_announce, worker_keys_announced, worker_keys_withdraw
from facenition.keyring import token_keyring

from .support import confirm_codes, wait_for

pytestmark = pytest.mark.django_db

ABSENT_KEY_ID = "0badc0de"


def test_a_verification_records_the_key_its_codes_come_from(pair):
    verification = Verification.start(email=pair[0], phone=pair[1])

    assert verification.key_id == token_keyring().current.key_id.hex()


def test_codes_made_before_a_key_rotation_still_check_while_the_old_key_is_retired(api, pair, settings):
    verification = Verification.start(email=pair[0], phone=pair[1])
    codes = verification.code_for(Channel.EMAIL), verification.code_for(Channel.SMS)
    settings.FACENITION_RETIRED_TOKEN_KEYS = settings.FACENITION_TOKEN_KEY
    settings.FACENITION_TOKEN_KEY = secrets.token_urlsafe(48)

    assert confirm_codes(api, *pair, *codes).status_code == 200


def test_codes_under_a_key_the_server_no_longer_holds_answer_502_and_are_logged(api, pair, caplog):
    verification = Verification.start(email=pair[0], phone=pair[1])
    Verification.objects.filter(pk=verification.pk).update(key_id=ABSENT_KEY_ID)

    with caplog.at_level(logging.ERROR, logger="facenition.credentials"):
        response = confirm_codes(api, *pair, "123456", "654321")

    assert response.status_code == 502
    assert "no longer holds the key" in response.json()["error"]
    assert ABSENT_KEY_ID in caplog.text and "FACENITION_TOKEN_KEY" in caplog.text


@pytest.mark.django_db(transaction=True)  # the worker, another process, reads committed rows
def test_a_worker_without_the_verifications_key_records_why_and_sends_nothing(pair, worker, mails, texts):
    email, phone = pair
    verification = Verification.start(email=email, phone=phone)
    Verification.objects.filter(pk=verification.pk).update(key_id=ABSENT_KEY_ID)

    deliver_code.delay(str(verification.pk), Channel.SMS)

    failed = wait_for(lambda: Verification.objects.filter(pk=verification.pk, sms_status=Delivery.FAILED).first())
    assert ABSENT_KEY_ID in failed.sms_error and "FACENITION_TOKEN_KEY" in failed.sms_error
    assert texts.to(phone) == []
    assert wait_for(lambda: "does not hold" in worker.text())


@pytest.mark.django_db(transaction=True)
def test_ready_says_the_running_worker_holds_the_key(api, settings, worker, delivery_queue):
    settings.FACENITION_WARM_UP = False
    for hostname in worker_keys_announced():  # another run's workers, on other keys, until they expire
        if not hostname.startswith(delivery_queue):
            worker_keys_withdraw(hostname=hostname)

    checks = api.get("/ready").json()["checks"]

    assert checks["worker_token_keys"].startswith("ok: ")
    assert token_keyring().current.key_id.hex() in checks["worker_token_keys"]


def test_ready_warns_of_a_worker_on_another_key_without_going_unready(api, settings):
    if not settings.REDIS_URL:
        pytest.skip("workers announce their keys in Redis")
    settings.FACENITION_WARM_UP = False
    ours = settings.FACENITION_TOKEN_KEY
    settings.FACENITION_TOKEN_KEY = secrets.token_urlsafe(48)
    worker_keys_announce(hostname="stale-key-worker@test")
    settings.FACENITION_TOKEN_KEY = ours
    try:
        response = api.get("/ready")
    finally:
        worker_keys_withdraw(hostname="stale-key-worker@test")

    assert response.status_code == 200
    finding = response.json()["checks"]["worker_token_keys"]
    assert finding.startswith("warning: ") and "stale-key-worker@test" in finding and "FACENITION_TOKEN_KEY" in finding


def test_an_announcement_expires_unless_renewed_so_a_killed_worker_drops_out(settings):
    if not settings.REDIS_URL:
        pytest.skip("workers announce their keys in Redis")
    import redis

    from credentials.worker_keys import ANNOUNCE_EVERY, ANNOUNCE_FOR

    worker_keys_announce(hostname="killed-worker@test")
    try:
        ttl = redis.Redis.from_url(settings.REDIS_URL).ttl(PREFIX + "killed-worker@test")
        assert ANNOUNCE_EVERY < ttl <= ANNOUNCE_FOR
        assert "killed-worker@test" in worker_keys_announced()
    finally:
        worker_keys_withdraw(hostname="killed-worker@test")
    assert "killed-worker@test" not in worker_keys_announced()
