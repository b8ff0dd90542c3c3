"""A broker that restarts without persistence loses the queued code deliveries; Celery beat queues
again every code left "queued" past FACENITION_DELIVERY_STALLED_SECONDS, and only those."""

import json
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from credentials.models import Channel, Delivery, Verification
from credentials.services import verification_deliver
from credentials.tasks import requeue_stalled_deliveries

pytestmark = pytest.mark.django_db


def started(pair, seconds_ago, **fields):
    email, phone = pair
    verification = Verification.start(email=email, phone=phone, now=timezone.now() - timedelta(seconds=seconds_ago))
    Verification.objects.filter(pk=verification.pk).update(**fields)
    return verification


def requeued(published):
    """(verification id, channel) of each deliver_code task published."""
    bodies = [json.loads(message) for message in published]
    return sorted(
        tuple(body["body"][0]) for body in bodies if body["headers"]["task"] == "credentials.tasks.deliver_code"
    )


def test_codes_left_queued_past_a_minute_are_queued_again(pair, published):
    lost = started(pair, seconds_ago=90)

    requeue_stalled_deliveries.apply()

    assert requeued(published) == sorted([(str(lost.pk), "email"), (str(lost.pk), "sms")])


def test_only_the_channel_still_queued_is_queued_again(pair, published):
    half = started(pair, seconds_ago=90, email_status=Delivery.SENT)

    requeue_stalled_deliveries.apply()

    assert requeued(published) == [(str(half.pk), "sms")]


@pytest.mark.parametrize(
    "seconds_ago, fields",
    [
        (10, {}),  # its worker has not had its turn yet
        (90, {"email_status": Delivery.SENT, "sms_status": Delivery.RETRYING}),
        (90, {"verified_at": timezone.now()}),
        (900, {}),  # expired: its codes could no longer be used
        (90, {"failed_attempts": 20}),  # locked
    ],
)
def test_codes_on_their_way_or_no_longer_needed_are_left_alone(pair, published, seconds_ago, fields):
    started(pair, seconds_ago=seconds_ago, **fields)

    requeue_stalled_deliveries.apply()

    assert requeued(published) == []


def test_a_copy_of_a_code_already_sent_is_not_sent_twice(pair):
    verification = started(pair, seconds_ago=90, email_status=Delivery.SENT)

    verification_deliver(verification_id=verification.pk, channel=Channel.EMAIL)

    assert mail.outbox == []
    assert Verification.objects.get(pk=verification.pk).email_status == Delivery.SENT
