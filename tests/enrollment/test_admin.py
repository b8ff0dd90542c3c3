import pytest
from django.contrib.auth import get_user_model

from enrollment.models import Enrollment

pytestmark = [pytest.mark.django_db, pytest.mark.faces]


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(user)
    return client


def test_admin_lists_enrollments_without_the_token_digest(admin_client, enroll):
    token = enroll("deepface-a", subject="user-9")
    enrollment = Enrollment.objects.get(pk=token["id"])
    listing = admin_client.get("/admin/enrollment/enrollment/?state=active&q=user-9").content.decode()
    assert token["id"] in listing
    detail = admin_client.get(f"/admin/enrollment/enrollment/{token['id']}/change/").content.decode()
    assert "user-9" in detail
    assert enrollment.token_digest not in detail


def test_admin_revoke_action_revokes_through_the_service(admin_client, enroll):
    token = enroll("deepface-a")
    response = admin_client.post(
        "/admin/enrollment/enrollment/", {"action": "revoke_enrollments", "_selected_action": [token["id"]]}
    )
    assert response.status_code == 302
    assert Enrollment.objects.get(pk=token["id"]).revoked_at is not None
    assert token["id"] in admin_client.get("/admin/enrollment/enrollment/?state=revoked").content.decode()
