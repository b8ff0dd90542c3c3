"""A gallery belongs to the client, not to one of its credentials."""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from credentials.models import Client
from matching.models import Face, Gallery, Subject
from tests.matching.conftest import synthetic_subjects

pytestmark = [pytest.mark.django_db]


def test_a_rotated_credential_keeps_the_clients_gallery(authed, client_row, client_token):
    synthetic_subjects(client_row, 3)
    rotated = authed.post("/rotateToken", {}, format="json")
    assert rotated.status_code in (200, 201), rotated.json()
    renewed = APIClient()
    renewed.credentials(HTTP_X_AUTH_TOKEN=rotated.json()["token"])
    assert renewed.post("/gallery/subjects", {}, format="json").json()["total"] == 3


def test_deleting_the_client_deletes_its_gallery_and_says_how_much(client, client_row):
    synthetic_subjects(client_row, 3)
    admin = get_user_model().objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(admin)
    response = client.post(
        "/admin/credentials/client/", {"action": "delete_clients", "_selected_action": [client_row.pk]}, follow=True
    )
    messages = " ".join(str(m) for m in response.context["messages"])
    assert "3 gallery subject(s) of 3 face(s)" in messages
    assert not Client.objects.exists()
    assert not Gallery.objects.exists() and not Subject.objects.exists() and not Face.objects.exists()
