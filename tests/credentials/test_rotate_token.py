"""/rotateToken, the v1 issuance switch, and what /token says about a credential."""

import re

import pytest
from django.contrib.admin.models import CHANGE, LogEntry

from credentials.models import Client, ClientToken, Verification

from .support import claim_token, proven

pytestmark = pytest.mark.django_db


def issue(api, path="/generateToken", **data):
    response = api.post(path, data, format="json")
    assert response.status_code == 201, response.json()
    return response.json()["token"]


@pytest.mark.parametrize("path", ["/rotateToken", "/v1/rotateToken", "/v2/rotateToken"])
def test_it_answers_a_new_credential_for_the_same_client_and_the_old_one_stops_at_once(api, path):
    old = issue(api, name="kiosk")

    response = api.post(path, HTTP_X_AUTH_TOKEN=old)

    assert response.status_code == 201
    body = response.json()
    assert body["ok"] is True and body["token"].startswith("fnc_") and body["token"] != old and body["expires_at"]
    assert api.post("/match", HTTP_X_AUTH_TOKEN=old).status_code == 401
    assert api.post("/match", HTTP_X_AUTH_TOKEN=body["token"]).status_code == 400  # in: the images are missing
    described = api.post("/token", HTTP_X_AUTH_TOKEN=body["token"]).json()
    assert described["name"] == "kiosk" and described["api_version"] == "1"
    assert Client.objects.count() == 1 and ClientToken.objects.count() == 2


def test_the_old_credential_says_it_was_rotated(api):
    old = issue(api)
    api.post("/rotateToken", HTTP_X_AUTH_TOKEN=old)

    response = api.post("/rotateToken", HTTP_X_AUTH_TOKEN=old)

    assert response.status_code == 401
    assert "rotated" in response.json()["error"]
    assert ClientToken.objects.count() == 2


def test_it_needs_a_credential(api):
    response = api.post("/rotateToken")

    assert response.status_code == 401 and response.json()["ok"] is False
    assert not ClientToken.objects.exists()


def test_v1_issuance_can_be_switched_off(api, settings, pair):
    settings.FACENITION_V1_TOKENS = False

    for path, headers in (
        ("/generateToken", {}),
        ("/v1/generateToken", {}),
        ("/v2/generateToken", {"HTTP_X_API_VERSION": "1"}),
    ):
        response = api.post(path, {"name": "kiosk"}, format="json", **headers)
        assert response.status_code == 403
        assert response.json() == {"ok": False, "error": "this server issues tokens to verified pairs only; use v2"}
    assert not Client.objects.exists()

    email, phone = pair
    _, proof = proven(email, phone)
    raw = issue(api, "/v2/generateToken", email=email, phone=phone, verification_token=proof)
    assert api.post("/v2/rotateToken", HTTP_X_AUTH_TOKEN=raw).status_code == 201


def test_token_says_whether_the_client_was_verified(api, pair):
    unverified = issue(api)
    email, phone = pair
    _, verified = claim_token(email, phone)
    rotated = api.post("/rotateToken", HTTP_X_AUTH_TOKEN=verified).json()["token"]

    assert api.post("/token", HTTP_X_AUTH_TOKEN=unverified).json()["verified"] is False
    assert api.post("/token", HTTP_X_AUTH_TOKEN=rotated).json()["verified"] is True


def test_the_admin_rotates_and_revokes_with_a_log_entry_and_shows_the_new_token_once(api, admin_client):
    issue(api, name="kiosk")
    token = ClientToken.objects.get()

    response = admin_client.post(
        "/admin/credentials/clienttoken/", {"action": "rotate_tokens", "_selected_action": [token.pk]}, follow=True
    )

    new = ClientToken.objects.exclude(pk=token.pk).get()
    assert new.client_id == token.client_id and ClientToken.objects.get(pk=token.pk).is_revoked()
    raw = re.search(r"<code>(fnc_[^<]+)</code>", response.content.decode()).group(1)
    assert new.matches(raw)
    admin_client.post("/admin/credentials/clienttoken/", {"action": "revoke_tokens", "_selected_action": [new.pk]})
    assert ClientToken.objects.get(pk=new.pk).is_revoked()
    entries = LogEntry.objects.filter(action_flag=CHANGE).order_by("pk")
    assert [(e.object_id, e.change_message) for e in entries] == [
        (str(token.pk), f"Rotated: replaced by {new.prefix}…"),
        (str(new.pk), "Revoked"),
    ]


def test_admin_pages_mask_the_pair_and_offer_no_delete_or_save(api, admin_client, pair):
    email, phone = pair
    token, _ = claim_token(email, phone)

    for page in (
        f"/admin/credentials/client/{token.client_id}/change/",
        "/admin/credentials/client/",
        f"/admin/credentials/clienttoken/{token.pk}/change/",
        f"/admin/credentials/verification/{Verification.objects.get().pk}/change/",
    ):
        html = admin_client.get(page).content.decode()
        assert email not in html and phone not in html, page
        assert 'name="_save"' not in html and "delete_selected" not in html and "/delete/" not in html, page
    assert token.client.masked_email() in admin_client.get("/admin/credentials/client/").content.decode()
    assert admin_client.post(f"/admin/credentials/client/{token.client_id}/delete/").status_code == 403
    assert Client.objects.count() == 1
