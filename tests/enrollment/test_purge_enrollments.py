from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from enrollment.models import Enrollment

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
