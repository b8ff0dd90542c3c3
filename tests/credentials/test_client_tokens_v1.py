from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from credentials.models import ClientToken

pytestmark = pytest.mark.django_db


def issue(api, **data):
    response = api.post("/generateToken", data, format="json")
    assert response.status_code == 201
    return response.json()


def test_generate_token_issues_a_usable_token(api):
    body = issue(api, name="kiosk", email="ops@example.com")
    assert body["ok"] is True and body["token"].startswith("fnc_")
    api.credentials(HTTP_X_AUTH_TOKEN=body["token"])
    assert api.post("/match").status_code == 400  # authenticated: now it is the images that are missing


def test_token_carries_at_least_256_random_bits_and_is_stored_only_as_a_digest(api):
    raw = issue(api)["token"]
    secret = raw.split("_", 2)[2]
    assert len(secret) >= 43  # 32 bytes of urlsafe base64
    row = ClientToken.objects.get()
    stored = " ".join(str(getattr(row, f.attname)) for f in ClientToken._meta.fields)
    assert secret not in stored and raw not in stored


def test_default_lifetime_is_thirty_days(api):
    issue(api)
    row = ClientToken.objects.get()
    assert abs((row.expires_at - row.created_at) - timedelta(days=30)) < timedelta(seconds=1)


def test_token_describes_itself(api):
    raw = issue(api, name="kiosk")["token"]
    body = api.post("/token", {"auth_token": raw}, format="json").json()
    assert body["ok"] is True and body["active"] is True
    assert body["name"] == "kiosk" and body["api_version"] == "1"
    assert body["created_at"] and body["expires_at"]


def test_token_introspection_of_unknown_token_is_404(api):
    response = api.post("/token", HTTP_X_AUTH_TOKEN="fnc_abcdefabcdef_wrong")
    assert response.status_code == 404


def test_a_token_with_a_wrong_secret_but_a_real_prefix_is_refused(api):
    raw = issue(api)["token"]
    forged = raw[:-4] + ("AAAA" if not raw.endswith("AAAA") else "BBBB")
    api.credentials(HTTP_X_AUTH_TOKEN=forged)
    assert api.post("/match").status_code == 401
    assert api.post("/token").status_code == 404


def test_expired_token_is_refused_with_a_reason(api):
    raw = issue(api)["token"]
    ClientToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    api.credentials(HTTP_X_AUTH_TOKEN=raw)
    response = api.post("/match")
    assert response.status_code == 401 and "expired" in response.json()["error"]
    introspection = api.post("/token")
    assert introspection.status_code == 410 and "expired" in introspection.json()["error"]


def test_revoked_token_is_refused_with_a_reason(api):
    raw = issue(api)["token"]
    ClientToken.objects.get().revoke()
    api.credentials(HTTP_X_AUTH_TOKEN=raw)
    response = api.post("/match")
    assert response.status_code == 401 and "revoked" in response.json()["error"]
    assert api.post("/token").status_code == 410


def test_bad_input_issues_nothing(api):
    response = api.post("/generateToken", {"email": "nope"}, format="json")
    assert response.status_code == 400
    assert ClientToken.objects.count() == 0


def test_use_is_recorded(api):
    raw = issue(api)["token"]
    api.credentials(HTTP_X_AUTH_TOKEN=raw)
    api.post("/match")
    assert ClientToken.objects.get().last_used_at is not None


def test_issue_token_command_prints_a_working_token(api):
    out = StringIO()
    call_command("issue_token", "--name", "cli", stdout=out, stderr=StringIO())
    raw = out.getvalue().strip()
    assert api.post("/token", HTTP_X_AUTH_TOKEN=raw).json()["name"] == "cli"


def test_admin_lists_and_revokes_without_showing_secrets(api, admin_client):
    raw = issue(api, name="listed")["token"]
    page = admin_client.get("/admin/credentials/clienttoken/").content.decode()
    row = ClientToken.objects.get()
    assert row.prefix in page and "listed" in page
    assert raw.split("_", 2)[2] not in page and row.digest not in page
    detail = admin_client.get(f"/admin/credentials/clienttoken/{row.pk}/change/").content.decode()
    assert row.digest not in detail
    admin_client.post("/admin/credentials/clienttoken/", {"action": "revoke_tokens", "_selected_action": [row.pk]})
    assert ClientToken.objects.get().is_revoked()


@pytest.mark.parametrize("path", ["/generateToken", "/v2/new-credentials"])
def test_an_email_longer_than_the_column_is_refused_with_400(api, path):
    email = "a@" + "b" * 63 + "." + ".".join(["c" * 63] * 3) + ".com"
    response = api.post(path, {"name": "x", "email": email, "phone": "+14155552671"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"].startswith("email:")
