from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from credentials.models import Channel, Verification

from .support import confirm_codes, wrong

pytestmark = pytest.mark.django_db


@pytest.fixture
def started(pair):
    """A pending verification for a fresh pair, with its two codes."""
    email, phone = pair
    verification = Verification.start(email=email, phone=phone)
    return verification, verification.code_for(Channel.EMAIL), verification.code_for(Channel.SMS)


def confirm(api, verification, email_code, sms_code):
    return confirm_codes(api, verification.email, verification.phone, email_code, sms_code)


def test_both_codes_verify_the_pair(api, started):
    verification, email_code, sms_code = started

    response = confirm(api, verification, email_code, sms_code)

    assert response.status_code == 200
    assert response.json() == {"ok": True, "verified": True, "verification": str(verification.pk), "expires_in": 600}
    assert Verification.objects.get().verified_at is not None


@pytest.mark.django_db(transaction=True)  # the worker, another process, reads committed rows
def test_the_codes_that_arrive_verify_the_pair(api, pair, delivered_codes):
    email, phone = pair
    email_code, sms_code = delivered_codes(email, phone)

    assert confirm_codes(api, email, phone, email_code, sms_code).status_code == 200


def test_a_wrong_code_answers_401_with_the_tries_left(api, started):
    verification, email_code, sms_code = started

    response = confirm(api, verification, email_code, wrong(sms_code))

    assert response.status_code == 401
    assert response.json() == {"ok": False, "error": "The codes do not match. 4 tries remain."}
    assert Verification.objects.get().failed_attempts == 1


def test_swapped_codes_do_not_verify(api, started):
    verification, email_code, sms_code = started
    if email_code == sms_code:
        pytest.skip("the two codes happen to be equal")

    assert confirm(api, verification, sms_code, email_code).status_code == 401


def test_the_fifth_failure_says_to_start_over(api, started):
    verification, email_code, sms_code = started
    for _ in range(4):
        confirm(api, verification, wrong(email_code), sms_code)

    response = confirm(api, verification, wrong(email_code), sms_code)

    assert response.status_code == 401
    assert response.json()["error"] == "The codes do not match. 0 tries remain; start over with /v2/new-credentials."


def test_the_sixth_attempt_after_five_failures_answers_429_even_with_the_right_codes(api, started):
    verification, email_code, sms_code = started
    for _ in range(5):
        assert confirm(api, verification, wrong(email_code), sms_code).status_code == 401

    response = confirm(api, verification, email_code, sms_code)

    assert response.status_code == 429
    assert "start over" in response.json()["error"]
    assert Verification.objects.get().verified_at is None


@pytest.mark.django_db(transaction=True)  # each thread has a connection of its own
def test_twenty_parallel_wrong_attempts_still_lock_after_five(started):
    verification, email_code, sms_code = started

    def attempt(_):
        try:
            return confirm(APIClient(), verification, wrong(email_code), sms_code).status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(attempt, range(20)))

    assert sorted(statuses) == [401] * 5 + [429] * 15
    assert Verification.objects.get().failed_attempts == 5


def test_expired_codes_answer_410(api, started):
    verification, email_code, sms_code = started
    Verification.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = confirm(api, verification, email_code, sms_code)

    assert response.status_code == 410
    assert "expired" in response.json()["error"]
    assert Verification.objects.get().verified_at is None


def test_codes_older_than_ten_minutes_have_expired(api, pair):
    email, phone = pair
    verification = Verification.start(email=email, phone=phone, now=timezone.now() - timedelta(minutes=10, seconds=1))

    response = confirm(api, verification, verification.code_for(Channel.EMAIL), verification.code_for(Channel.SMS))

    assert response.status_code == 410


def test_a_pair_that_never_asked_answers_404(api, pair):
    response = confirm_codes(api, *pair, "123456", "654321")

    assert response.status_code == 404
    assert "/v2/new-credentials" in response.json()["error"]


def test_codes_for_another_pair_answer_404(api, started):
    verification, email_code, sms_code = started

    response = confirm_codes(api, "someone-else@example.test", verification.phone, email_code, sms_code)

    assert response.status_code == 404


def test_an_already_verified_pair_answers_409(api, started):
    verification, email_code, sms_code = started
    confirm(api, verification, email_code, sms_code)

    response = confirm(api, verification, email_code, sms_code)

    assert response.status_code == 409
    assert "/v2/generateToken" in response.json()["error"]


def test_codes_of_an_earlier_verification_no_longer_count(api, pair):
    email, phone = pair
    earlier = Verification.start(email=email, phone=phone, now=timezone.now() - timedelta(minutes=11))
    Verification.start(email=email, phone=phone)

    response = confirm_codes(api, email, phone, earlier.code_for(Channel.EMAIL), earlier.code_for(Channel.SMS))

    assert response.status_code == 401


@pytest.mark.parametrize(
    "change, field",
    [
        ({"email_code": "12345"}, "email_code"),
        ({"email_code": "1234567"}, "email_code"),
        ({"sms_code": "12a456"}, "sms_code"),
        ({"sms_code": None}, "sms_code"),
        ({"email": "nope"}, "email"),
        ({"phone": "+1415"}, "phone"),
    ],
)
def test_bad_input_answers_400_naming_the_field_and_counts_nothing(api, started, change, field):
    verification, email_code, sms_code = started
    payload = {"email": verification.email, "phone": verification.phone, "email_code": email_code, "sms_code": sms_code}

    response = api.post("/v2/authenticate-credentials", {**payload, **change}, format="json")

    assert response.status_code == 400
    assert response.json()["error"].startswith(f"{field}:")
    assert Verification.objects.get().failed_attempts == 0
    assert Verification.objects.get().verified_at is None


def test_it_does_not_exist_on_v1(api, started):
    verification, email_code, sms_code = started

    response = api.post(
        "/v1/authenticate-credentials",
        {"email": verification.email, "phone": verification.phone, "email_code": email_code, "sms_code": sms_code},
        format="json",
    )

    assert response.status_code == 404
    assert Verification.objects.get().verified_at is None
