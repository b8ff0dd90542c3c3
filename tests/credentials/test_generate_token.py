from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import F
from django.utils import timezone
from rest_framework.test import APIClient

from credentials.models import Channel, ClientToken, Verification

from .support import confirm_codes, proven, request_codes

pytestmark = pytest.mark.django_db


@pytest.fixture
def verified(pair):
    """A verified pair's verification, and the verification token its prover received."""
    return proven(*pair)


def generate(api, email, phone, proof="", path="/v2/generateToken", **extra):
    return api.post(path, {"email": email, "phone": phone, "verification_token": proof}, format="json", **extra)


@pytest.mark.django_db(transaction=True)  # the worker, another process, reads committed rows
def test_the_whole_v2_flow_ends_with_a_working_token(api, pair, delivered_codes):
    email, phone = pair
    email_code, sms_code = delivered_codes(email, phone)
    confirmed = confirm_codes(api, email, phone, email_code, sms_code)
    assert confirmed.status_code == 200

    response = generate(api, email, phone, confirmed.json()["verification_token"])

    assert response.status_code == 201
    raw = response.json()["token"]
    described = api.post("/v2/token", HTTP_X_AUTH_TOKEN=raw).json()
    assert described["active"] is True and described["api_version"] == "2"
    token = ClientToken.objects.get()
    assert (token.client.email, token.client.phone) == (email, phone) and token.client.is_verified()
    assert described["verified"] is True
    assert Verification.objects.get().client_token == token
    api.credentials(HTTP_X_AUTH_TOKEN=raw)
    assert api.post("/v2/match").status_code == 400  # authenticated: it is the images that are missing


def test_a_verification_mints_one_token_and_is_then_spent(api, verified):
    verification, proof = verified
    assert generate(api, verification.email, verification.phone, proof).status_code == 201

    response = generate(api, verification.email, verification.phone, proof)

    assert response.status_code == 403
    assert "already issued" in response.json()["error"]
    assert ClientToken.objects.count() == 1
    assert Verification.objects.get().spent_at is not None


def test_it_takes_the_verification_token_from_a_header_too(api, verified):
    verification, proof = verified

    response = generate(api, verification.email, verification.phone, HTTP_X_VERIFICATION_TOKEN=proof)

    assert response.status_code == 201


def test_a_stranger_with_the_right_email_and_phone_but_no_verification_token_gets_401_and_spends_nothing(api, verified):
    verification, proof = verified

    response = generate(api, verification.email, verification.phone)

    assert response.status_code == 401
    assert "verification token" in response.json()["error"]
    assert not ClientToken.objects.exists()
    assert Verification.objects.get().spent_at is None
    assert generate(api, verification.email, verification.phone, proof).status_code == 201  # the owner still can


@pytest.mark.parametrize("presented", ["fnv_guessed", "fnc_not-this-kind", "x" * 100])
def test_a_wrong_verification_token_gets_401_and_spends_nothing(api, verified, presented):
    verification, proof = verified

    response = generate(api, verification.email, verification.phone, presented)

    assert response.status_code == 401
    assert not ClientToken.objects.exists()
    assert generate(api, verification.email, verification.phone, proof).status_code == 201


def test_another_pairs_verification_token_does_not_claim_this_pair(api, verified, pair):
    verification, _ = verified
    _, other_proof = proven("someone-else@example.test", verification.phone)

    response = generate(api, verification.email, verification.phone, other_proof)

    assert response.status_code == 401
    assert not ClientToken.objects.exists()


def test_only_a_digest_of_the_verification_token_is_stored(verified):
    verification, proof = verified

    stored = Verification.objects.filter(pk=verification.pk).values_list(flat=False).get()

    assert proof not in [str(value) for value in stored]
    assert proof.split("_", 1)[1] not in " ".join(str(value) for value in stored)


@pytest.mark.django_db(transaction=True)  # each thread has a connection of its own
def test_parallel_requests_still_mint_one_token(verified):
    verification, proof = verified

    def attempt(_):
        try:
            return generate(APIClient(), verification.email, verification.phone, proof).status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=5) as pool:
        statuses = sorted(pool.map(attempt, range(5)))

    assert statuses == [201] + [403] * 4
    assert ClientToken.objects.count() == 1


def test_an_unverified_pair_answers_401(api, pair):
    email, phone = pair
    Verification.start(email=email, phone=phone)

    response = generate(api, email, phone)

    assert response.status_code == 401
    assert not ClientToken.objects.exists()


def test_a_verification_left_unused_too_long_answers_403(api, verified):
    verification, proof = verified
    Verification.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = generate(api, verification.email, verification.phone, proof)

    assert response.status_code == 403
    assert "expired" in response.json()["error"]
    assert not ClientToken.objects.exists()


def test_asking_for_codes_again_does_not_replace_a_verified_unclaimed_pair(
    api, verified, published, django_capture_on_commit_callbacks
):
    verification, proof = verified
    with django_capture_on_commit_callbacks(execute=True):
        response = request_codes(api, verification.email, verification.phone)

    assert response.status_code == 202
    assert response.json() == {"ok": True, "expires_in": 600}  # as for any other pair
    assert published == []  # nothing sent
    assert Verification.objects.count() == 1
    assert generate(api, verification.email, verification.phone, proof).status_code == 201


@pytest.mark.parametrize("payload", [{}, {"email": "x@example.test"}, {"email": "x@example.test", "phone": "555"}])
def test_bad_input_answers_400_and_issues_nothing(api, payload):
    response = api.post("/v2/generateToken", payload, format="json")

    assert response.status_code == 400
    assert not ClientToken.objects.exists()


def test_v1_still_issues_directly(api):
    response = api.post("/v1/generateToken", {"name": "kiosk"}, format="json")

    assert response.status_code == 201
    assert ClientToken.objects.get().api_version == "1"


@pytest.mark.parametrize(
    "path, headers, issued_on",
    [
        ("/generateToken", {"HTTP_X_API_VERSION": "2"}, "2"),
        ("/v1/generateToken", {"HTTP_X_API_VERSION": "2"}, "2"),
        ("/v2/generateToken", {"HTTP_X_API_VERSION": "1"}, "1"),
        ("/generateToken", {}, "1"),
        ("/v3/generateToken", {}, None),
    ],
)
def test_the_version_decides_the_behaviour(api, pair, path, headers, issued_on):
    _, proof = proven(*pair)

    response = generate(api, *pair, proof, path=path, **headers)

    if issued_on is None:
        assert response.status_code == 404
        return
    assert response.status_code == 201
    token = ClientToken.objects.get()
    assert token.api_version == issued_on
    assert token.client.is_verified() is (issued_on == "2")  # v1 issues without looking at the proof


def test_a_pair_verified_at_the_last_moment_has_a_full_lifetime_to_ask_for_its_token(api, pair):
    email, phone = pair
    verification = Verification.start(email=email, phone=phone, now=timezone.now() - timedelta(minutes=9, seconds=59))
    confirmed = confirm_codes(
        api, email, phone, verification.code_for(Channel.EMAIL), verification.code_for(Channel.SMS)
    )
    assert confirmed.json()["expires_in"] == 600
    proof = confirmed.json()["verification_token"]
    # Two seconds pass: the codes' own ten minutes are now over.
    Verification.objects.filter(pk=verification.pk).update(
        created_at=F("created_at") - timedelta(seconds=2),
        verified_at=F("verified_at") - timedelta(seconds=2),
        expires_at=F("expires_at") - timedelta(seconds=2),
    )

    assert generate(api, email, phone, proof).status_code == 201
