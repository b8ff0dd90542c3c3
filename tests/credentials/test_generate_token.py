from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import F
from django.utils import timezone
from rest_framework.test import APIClient

from credentials.models import Channel, ClientToken, Verification

from .support import confirm_codes

pytestmark = pytest.mark.django_db


@pytest.fixture
def verified(pair):
    email, phone = pair
    verification = Verification.start(email=email, phone=phone)
    verification.verify()
    return verification


def generate(api, email, phone, path="/v2/generateToken", **extra):
    return api.post(path, {"email": email, "phone": phone}, format="json", **extra)


@pytest.mark.django_db(transaction=True)  # the worker, another process, reads committed rows
def test_the_whole_v2_flow_ends_with_a_working_token(api, pair, delivered_codes):
    email, phone = pair
    email_code, sms_code = delivered_codes(email, phone)
    assert confirm_codes(api, email, phone, email_code, sms_code).status_code == 200

    response = generate(api, email, phone)

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
    assert generate(api, verified.email, verified.phone).status_code == 201

    response = generate(api, verified.email, verified.phone)

    assert response.status_code == 403
    assert "already issued" in response.json()["error"]
    assert ClientToken.objects.count() == 1
    assert Verification.objects.get().spent_at is not None


@pytest.mark.django_db(transaction=True)  # each thread has a connection of its own
def test_parallel_requests_still_mint_one_token(verified):
    def attempt(_):
        try:
            return generate(APIClient(), verified.email, verified.phone).status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=5) as pool:
        statuses = sorted(pool.map(attempt, range(5)))

    assert statuses == [201] + [403] * 4
    assert ClientToken.objects.count() == 1


def test_an_unverified_pair_answers_403(api, pair):
    email, phone = pair
    Verification.start(email=email, phone=phone)

    response = generate(api, email, phone)

    assert response.status_code == 403
    assert "must be verified first" in response.json()["error"]
    assert not ClientToken.objects.exists()


def test_a_pair_that_never_asked_answers_403(api, pair):
    response = generate(api, *pair)

    assert response.status_code == 403
    assert "must be verified first" in response.json()["error"]


def test_a_verification_left_unused_too_long_answers_403(api, verified):
    Verification.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = generate(api, verified.email, verified.phone)

    assert response.status_code == 403
    assert "expired" in response.json()["error"]
    assert not ClientToken.objects.exists()


def test_a_newer_pending_verification_supersedes_a_verified_one(api, verified):
    Verification.start(email=verified.email, phone=verified.phone)

    assert generate(api, verified.email, verified.phone).status_code == 403


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
    "path, headers, status",
    [
        ("/generateToken", {"HTTP_X_API_VERSION": "2"}, 403),
        ("/v1/generateToken", {"HTTP_X_API_VERSION": "2"}, 403),
        ("/v2/generateToken", {"HTTP_X_API_VERSION": "1"}, 201),
        ("/generateToken", {}, 201),
        ("/v3/generateToken", {}, 404),
    ],
)
def test_the_version_decides_the_behaviour(api, pair, path, headers, status):
    assert generate(api, *pair, path=path, **headers).status_code == status


def test_a_pair_verified_at_the_last_moment_has_a_full_lifetime_to_ask_for_its_token(api, pair):
    email, phone = pair
    verification = Verification.start(email=email, phone=phone, now=timezone.now() - timedelta(minutes=9, seconds=59))
    confirmed = confirm_codes(
        api, email, phone, verification.code_for(Channel.EMAIL), verification.code_for(Channel.SMS)
    )
    assert confirmed.json()["expires_in"] == 600
    # Two seconds pass: the codes' own ten minutes are now over.
    Verification.objects.filter(pk=verification.pk).update(
        created_at=F("created_at") - timedelta(seconds=2),
        verified_at=F("verified_at") - timedelta(seconds=2),
        expires_at=F("expires_at") - timedelta(seconds=2),
    )

    assert generate(api, email, phone).status_code == 201
