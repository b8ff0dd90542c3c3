"""What the Celery worker does with a code: send it, retry a provider's refusal, record the outcome."""

import json
import re
import signal
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from kombu import Exchange, Queue

from credentials.models import Channel, Delivery, Verification
from credentials.tasks import deliver_code
from facenition.celery import app as celery_app

from .conftest import start_worker, stop_worker
from .support import confirm_codes, request_codes, wait_for

# The Celery worker, another process, sees only committed rows.
pytestmark = pytest.mark.django_db(transaction=True)


def recorded(email, **statuses):
    return wait_for(
        lambda: Verification.objects.filter(email=email, **statuses).first(),
        what=f"the verification to show {statuses}",
    )


def test_a_refused_text_is_retried_and_then_recorded_sent(api, pair, worker, mails, texts):
    email, phone = pair
    texts.refuse(phone, times=1)

    request_codes(api, email, phone)

    sms_code = texts.wait(phone)[-1].code
    assert len(texts.refused_to(phone)) == 1
    verification = recorded(email, sms_status=Delivery.SENT)
    assert verification.sms_error == ""
    assert confirm_codes(api, email, phone, mails.wait(email)[-1].code, sms_code).status_code == 200


def test_a_refused_email_is_recorded_with_the_providers_error_while_it_is_retried(api, pair, worker, mails):
    email, phone = pair
    mails.refuse(email, times=2)

    request_codes(api, email, phone)

    verification = recorded(email, email_status=Delivery.RETRYING)
    assert "451" in verification.email_error and "fake outage" in verification.email_error
    mails.wait(email, timeout=30)
    recorded(email, email_status=Delivery.SENT, email_error="")


def queued_task_id(published, channel):
    """The id of the one delivery task queued for `channel`; Celery keeps it across the task's retries."""
    ids = [message["headers"]["id"] for message in map(json.loads, published) if message["body"][0][1] == channel]
    assert len(ids) == 1, ids
    return ids[0]


def test_retries_stop_once_the_code_has_expired(api, pair, worker, mails, published):
    email, phone = pair
    mails.refuse(email)  # always
    request_codes(api, email, phone)
    task_id = queued_task_id(published, Channel.EMAIL)
    expires_at = timezone.now() + timedelta(seconds=4)  # back-offs of 1, 2, 4 s: the third would pass it
    Verification.objects.update(expires_at=expires_at)

    verification = recorded(email, email_status=Delivery.FAILED)

    assert "451" in verification.email_error
    # The task ends without asking for another retry: no attempt can follow.
    wait_for(lambda: f"deliver_code[{task_id}] succeeded" in worker.text(), what="the delivery task to end")
    attempts = len(mails.refused_to(email))
    assert attempts >= 2  # it did retry while the code was valid
    assert worker.text().count(f"deliver_code[{task_id}] retry:") == attempts - 1
    assert all(refusal.at < expires_at.timestamp() for refusal in mails.refused_to(email))
    assert mails.to(email) == []


def test_a_code_that_expired_before_its_turn_is_not_sent(pair, worker, texts):
    email, phone = pair
    verification = Verification.start(email=email, phone=phone, now=timezone.now() - timedelta(minutes=11))

    deliver_code.delay(str(verification.pk), Channel.SMS)

    recorded(email, sms_status=Delivery.SKIPPED)
    assert texts.to(phone) == []


def test_a_task_for_a_verification_that_is_gone_returns_quietly(worker):
    task = deliver_code.delay(str(uuid.uuid4()), Channel.EMAIL)

    wait_for(lambda: f"deliver_code[{task.id}] succeeded" in worker.text(), what="the task to finish")


def test_the_messages_say_what_the_code_is_for_and_how_long_it_lasts(api, pair, worker, mails, texts):
    email, phone = pair
    request_codes(api, email, phone)

    mail, text = mails.wait(email)[-1], texts.wait(phone)[-1]

    assert re.search(r"email code is [0-9]{6}\. It expires in 10 minutes", mail.text)
    assert re.search(r"SMS code is [0-9]{6}\. It expires in 10 minutes", text.text)


@pytest.fixture
def queue_of_its_own():
    """Routes this test's tasks to a queue no other worker reads."""
    name = f"credentials-kill-{uuid.uuid4().hex[:12]}"
    previous = celery_app.conf.task_routes
    celery_app.conf.task_routes = {"credentials.tasks.*": {"queue": name}}
    yield name
    celery_app.conf.task_routes = previous
    with celery_app.connection_for_write() as broker:
        queue = Queue(name, Exchange(name), routing_key=name)(broker.default_channel)
        queue.declare()
        queue.delete()


@pytest.mark.worker  # starts and kills workers of its own
@pytest.mark.subprocess
def test_a_code_whose_worker_was_killed_mid_delivery_is_sent_after_restart(
    api, pair, mails, texts, queue_of_its_own, tmp_path
):
    email, phone = pair
    # Production keeps FACENITION_BROKER_VISIBILITY_SECONDS at 300 of the code's 600; the test shortens both waits.
    overrides = {"FACENITION_BROKER_VISIBILITY_SECONDS": "3", "FACENITION_DELIVERY_MAX_RETRIES": "1"}
    mails.hold(email, seconds=60)
    first, _ = start_worker(queue_of_its_own, tmp_path / "first.log", texts, mails, **overrides)
    try:
        assert request_codes(api, email, phone).status_code == 202
        wait_for(lambda: [h for h in mails.held if h.to == email], what="the worker to be mid-delivery")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert mails.to(email) == []
    assert Verification.objects.get(email=email).email_status == Delivery.QUEUED

    second, _ = start_worker(queue_of_its_own, tmp_path / "second.log", texts, mails, **overrides)
    try:
        mail = mails.wait(email, timeout=60)[-1]
    finally:
        stop_worker(second)

    verification = recorded(email, email_status=Delivery.SENT)
    assert mail.at < verification.expires_at.timestamp()
    assert confirm_codes(api, email, phone, mail.code, texts.wait(phone)[-1].code).status_code == 200
