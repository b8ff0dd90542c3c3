import pytest

from credentials.models import Channel, Delivery, Verification

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
