import logging
from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from enrollment.models import Enrollment
from enrollment.tasks import purge_expired_enrollments
from facenition.celery import app as celery_app

from .conftest import authenticate

pytestmark = [pytest.mark.django_db, pytest.mark.faces]


def test_purge_enrollments_deletes_only_expired_ones(authed, enroll, people):
    expired = enroll("deepface-a")
    current = enroll("deepface-b")
    Enrollment.objects.filter(pk=expired["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    output = StringIO()
    call_command("purge_enrollments", stdout=output)
    assert "purged 1 expired enrollment" in output.getvalue()
    assert [str(pk) for pk in Enrollment.objects.values_list("id", flat=True)] == [current["id"]]


def test_a_purged_token_answers_410(authed, enroll, people):
    token = enroll("deepface-a")
    Enrollment.objects.filter(pk=token["id"]).delete()
    response = authenticate(authed, token["token"], people("deepface-a")[6:7])
    assert response.status_code == 410
    assert "no longer valid" in response.json()["error"]


def test_beat_purges_expired_enrollments_hourly():
    entry = settings.CELERY_BEAT_SCHEDULE["purge-expired-enrollments"]

    assert entry["schedule"] == 3600.0
    assert entry["task"] == purge_expired_enrollments.name
    assert entry["task"] in celery_app.tasks


def test_the_scheduled_purge_deletes_expired_enrollments_and_counts_them(enroll, caplog):
    expired, current = enroll("deepface-a"), enroll("deepface-b")
    Enrollment.objects.filter(pk=expired["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))

    with caplog.at_level(logging.INFO, logger="facenition.enrollment"):
        purge_expired_enrollments.apply()

    assert [str(pk) for pk in Enrollment.objects.values_list("id", flat=True)] == [current["id"]]
    assert "purged 1 expired enrollment(s)" in caplog.text
