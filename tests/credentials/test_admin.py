import re

import pytest

from credentials.models import Channel, ClientToken, Delivery, Verification
from credentials.services import client_token_issue

from .support import claim_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def verification(pair):
    email, phone = pair
    verification = Verification.start(email=email, phone=phone)
    verification.record_delivery(Channel.SMS, Delivery.FAILED, "Twilio: HTTP 400 error: Invalid 'To' Phone Number")
    return verification


def test_it_lists_verifications_masked_with_delivery_and_never_a_code(admin_client, verification):
    page = admin_client.get("/admin/credentials/verification/").content.decode()

    assert verification.masked_email() in page and verification.masked_phone() in page
    assert verification.email not in page and verification.phone not in page
    assert "failed" in page and "queued" in page
    for secret in (verification.code_for(Channel.EMAIL), verification.code_for(Channel.SMS), verification.code_seed):
        assert secret not in page


def test_its_page_shows_the_providers_error_and_never_a_code(admin_client, verification):
    page = admin_client.get(f"/admin/credentials/verification/{verification.pk}/change/").content.decode()

    assert "Invalid &#x27;To&#x27; Phone Number" in page
    assert verification.email not in page
    for secret in (verification.code_for(Channel.EMAIL), verification.code_for(Channel.SMS), verification.code_seed):
        assert secret not in page


def test_it_finds_a_verification_by_its_full_address(admin_client, verification):
    other = Verification.start(email="zz-other@example.test", phone=verification.phone)

    page = admin_client.get("/admin/credentials/verification/", {"q": verification.email}).content.decode()

    assert verification.masked_email() in page
    assert other.masked_email() not in page


def test_the_expire_action_expires_verifications(admin_client, verification):
    admin_client.post(
        "/admin/credentials/verification/", {"action": "expire_verifications", "_selected_action": [verification.pk]}
    )

    assert Verification.objects.get().is_expired()


def test_clients_show_the_pair_they_were_issued_to_masked(admin_client, verification):
    token, _ = claim_token(verification.email, verification.phone)

    page = admin_client.get(f"/admin/credentials/client/{token.client_id}/change/").content.decode()

    assert verification.masked_email() in page and verification.masked_phone() in page
    assert verification.email not in page and verification.phone not in page
    assert token.prefix in page


def test_the_search_says_what_it_matches(admin_client, verification):
    page = admin_client.get("/admin/credentials/verification/").content.decode()

    assert "full email address or the full phone number" in page


@pytest.mark.parametrize(
    ("changelist", "action", "row"),
    [
        ("/admin/credentials/client/", "issue_tokens", lambda token: token.client_id),
        ("/admin/credentials/clienttoken/", "rotate_tokens", lambda token: token.pk),
    ],
)
def test_a_new_client_token_is_shown_once_on_an_uncached_page_and_never_kept_in_a_cookie(
    admin_client, changelist, action, row
):
    old = client_token_issue(name="kiosk").token

    response = admin_client.post(changelist, {"action": action, "_selected_action": [row(old)]})

    shown = re.findall(r"fnc_[0-9a-f]+_[A-Za-z0-9_-]+", response.content.decode())
    assert len(shown) == 1 and ClientToken.objects.exclude(pk=old.pk).get().matches(shown[0])
    assert "no-store" in response["Cache-Control"]
    assert "messages" not in response.cookies and shown[0] not in str(response.cookies)
    assert shown[0] not in str(dict(admin_client.session))
