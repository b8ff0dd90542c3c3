"""Identity tokens belong to the client, not to the credential that made them."""

from datetime import datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from credentials.models import Client, ClientToken
from enrollment.models import Enrollment

from .conftest import authenticate

pytestmark = [pytest.mark.django_db, pytest.mark.faces]


def signed_in(raw):
    client = APIClient()
    client.credentials(HTTP_X_AUTH_TOKEN=raw)
    return client


def test_identity_tokens_outlive_the_credentials_of_their_client(authed, client_token, enroll, people, admin_client):
    enrolled = enroll("deepface-a")
    live = people("deepface-a")[6:7]

    # Renewed: the new credential authenticates the client's identity tokens, the old one is out.
    renewed = authed.post("/rotateToken").json()["token"]
    assert authenticate(signed_in(renewed), enrolled["token"], live).json()["authenticated"] is True
    assert authenticate(signed_in(client_token), enrolled["token"], live).status_code == 401

    # Revoked, expired and purged by the hourly job: the enrollment stays with its client.
    ClientToken.objects.filter(prefix=renewed.split("_")[1]).update(revoked_at=timezone.now())
    call_command("purge_credentials", stdout=StringIO())
    assert not ClientToken.objects.exists()
    client = Client.objects.get()
    out = StringIO()
    call_command("issue_token", "--client", str(client.pk), stdout=out, stderr=StringIO())
    assert authenticate(signed_in(out.getvalue().strip()), enrolled["token"], live).json()["authenticated"] is True

    # Only deleting the client removes its enrollments, and the admin says how many.
    response = admin_client.post(
        "/admin/credentials/client/", {"action": "delete_clients", "_selected_action": [client.pk]}, follow=True
    )
    assert "with 1 client token(s), 1 enrollment(s) and 0 gallery subject(s)" in " ".join(
        str(m) for m in response.context["messages"]
    )
    assert not Enrollment.objects.exists() and not Client.objects.exists()
    other = signed_in(APIClient().post("/generateToken").json()["token"])
    gone = authenticate(other, enrolled["token"], live)
    assert gone.status_code == 410
    assert "client was deleted" in gone.json()["error"]


def test_a_purged_token_says_when_it_expired(authed, enroll, people, monkeypatch):
    enrolled = enroll("deepface-a", expires_in=1)
    later = datetime.fromisoformat(enrolled["expires_at"]) + timedelta(seconds=1)
    monkeypatch.setattr(timezone, "now", lambda: later)  # the server's clock, past the token's expiry
    call_command("purge_enrollments", stdout=StringIO())
    assert not Enrollment.objects.exists()

    response = authenticate(authed, enrolled["token"], people("deepface-a")[6:7])

    assert response.status_code == 410
    assert "expired at" in response.json()["error"] and "purged" in response.json()["error"]
