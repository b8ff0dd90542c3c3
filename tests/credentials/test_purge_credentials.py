from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from credentials.models import ClientToken, Verification
from credentials.services import client_token_issue
from credentials.tasks import purge_expired_credentials
from facenition.celery import app as celery_app

from .support import wait_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows(pair):
    """One of each: expired and live verifications, expired, revoked and live tokens."""
    email, phone = pair
    now = timezone.now()
    expired_verification = Verification.start(email=email, phone=phone, now=now - timedelta(minutes=11))
    live_verification = Verification.start(email="live-" + email, phone=phone)
    expired_token, _ = client_token_issue(name="expired")
    ClientToken.objects.filter(pk=expired_token.pk).update(expires_at=now - timedelta(seconds=1))
    revoked_token, _ = client_token_issue(name="revoked")
    revoked_token.revoke()
    live_token, _ = client_token_issue(name="live")
    return expired_verification, live_verification, expired_token, revoked_token, live_token


def test_it_deletes_expired_verifications_and_expired_or_revoked_tokens(rows):
    expired_verification, live_verification, expired_token, revoked_token, live_token = rows

    call_command("purge_credentials", stdout=StringIO())

    assert list(Verification.objects.all()) == [live_verification]
    assert list(ClientToken.objects.all()) == [live_token]


def test_it_says_what_it_deleted_without_showing_the_pair(rows):
    expired_verification, _, expired_token, revoked_token, _ = rows
    out = StringIO()

    call_command("purge_credentials", stdout=out)

    printed = out.getvalue()
    assert f"verification {expired_verification.pk}" in printed
    assert expired_verification.masked_email() in printed and expired_verification.email not in printed
    assert f"client token {expired_token.prefix}" in printed and f"client token {revoked_token.prefix}" in printed
    assert printed.splitlines()[-1] == "Deleted 1 expired verification(s) and 2 expired or revoked client token(s)."


def test_a_token_outlives_the_verification_it_came_from(pair):
    email, phone = pair
    verification = Verification.start(email=email, phone=phone, now=timezone.now() - timedelta(minutes=30))
    token, _ = client_token_issue(email=email, phone=phone, api_version="2")
    verification.spend(token)

    call_command("purge_credentials", stdout=StringIO())

    assert not Verification.objects.exists()
    assert ClientToken.objects.get() == token


def test_beat_runs_the_purge_hourly():
    entry = settings.CELERY_BEAT_SCHEDULE["purge-expired-credentials"]

    assert entry["schedule"] == 3600.0
    assert entry["task"] == purge_expired_credentials.name
    assert entry["task"] in celery_app.tasks


@pytest.mark.django_db(transaction=True)  # the worker, another process, reads committed rows
def test_the_scheduled_task_purges_through_the_worker(rows, worker):
    purge_expired_credentials.delay()

    wait_for(lambda: ClientToken.objects.count() == 1 and Verification.objects.count() == 1, what="the purge")
