from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from credentials.models import Channel, Verification

from .support import claim_token, confirm_codes, proven, wrong

pytestmark = pytest.mark.django_db


@pytest.fixture
def started(pair):
    """A pending verification for a fresh pair, with its two codes."""
    email, phone = pair
    verification = Verification.start(email=email, phone=phone)
    return verification, verification.code_for(Channel.EMAIL), verification.code_for(Channel.SMS)


def confirm(api, verification, email_code, sms_code, source="127.0.0.1"):
    return confirm_codes(api, verification.email, verification.phone, email_code, sms_code, REMOTE_ADDR=source)


REFUSED = {
    "ok": False,
    "error": "The codes do not match a pending verification of this email and phone. Check both codes; "
    "codes expire 10 minutes after they are sent, and after 5 wrong tries from one address (20 in all) they "
    "stop working: then ask /v2/new-credentials for new ones.",
}


def test_both_codes_verify_the_pair_and_hand_over_a_verification_token(api, started):
    verification, email_code, sms_code = started

    response = confirm(api, verification, email_code, sms_code)

    assert response.status_code == 200
    body = response.json()
    assert body == {"ok": True, "verified": True, "verification_token": body["verification_token"], "expires_in": 600}
    assert body["verification_token"].startswith("fnv_")
    assert Verification.objects.get().verified_at is not None


@pytest.mark.django_db(transaction=True)  # the worker, another process, reads committed rows
def test_the_codes_that_arrive_verify_the_pair(api, pair, delivered_codes):
    email, phone = pair
    email_code, sms_code = delivered_codes(email, phone)

    assert confirm_codes(api, email, phone, email_code, sms_code).status_code == 200


def test_a_wrong_code_answers_401_and_counts(api, started):
    verification, email_code, sms_code = started

    response = confirm(api, verification, email_code, wrong(sms_code))

    assert response.status_code == 401
    assert response.json() == REFUSED
    assert Verification.objects.get().failed_attempts == 1


def test_swapped_codes_do_not_verify(api, started):
    verification, email_code, sms_code = started
    if email_code == sms_code:
        pytest.skip("the two codes happen to be equal")

    assert confirm(api, verification, sms_code, email_code).status_code == 401


def test_a_stranger_learns_nothing_of_the_pairs_state(api, pair):
    """Never asked, pending, verified, claimed and expired: wrong codes answer the same."""
    answers = {}
    for state in ("never asked", "pending", "verified", "claimed", "expired"):
        email, phone = f"{state.replace(' ', '-')}-{pair[0]}", pair[1]
        if state != "never asked":
            verification = Verification.start(email=email, phone=phone)
            if state in ("verified", "claimed"):
                claim_token(email, phone) if state == "claimed" else proven(email, phone)
            if state == "expired":
                Verification.objects.filter(pk=verification.pk).update(expires_at=timezone.now())
        response = confirm_codes(api, email, phone, "000000", "000000")
        answers[state] = (response.status_code, response.json())

    assert all(answer == (401, REFUSED) for answer in answers.values()), answers


def test_one_caller_that_fails_five_times_is_refused_but_the_owner_still_gets_through(api, started):
    verification, email_code, sms_code = started
    for _ in range(5):
        assert confirm(api, verification, wrong(email_code), sms_code, source="203.0.113.7").status_code == 401

    refused = confirm(api, verification, email_code, sms_code, source="203.0.113.7")
    owner = confirm(api, verification, email_code, sms_code, source="198.51.100.20")

    assert refused.status_code == 429
    assert "/v2/new-credentials" in refused.json()["error"]
    assert owner.status_code == 200
    assert Verification.objects.get().verified_at is not None


def test_twenty_wrong_tries_in_all_lock_the_verification_for_everyone(api, started):
    verification, email_code, sms_code = started
    for attempt in range(20):  # from four addresses, knowing neither code
        source = f"203.0.113.{attempt // 5}"
        assert confirm(api, verification, wrong(email_code), wrong(sms_code), source=source).status_code == 401

    response = confirm(api, verification, email_code, sms_code, source="198.51.100.20")

    assert response.status_code == 429
    assert "/v2/new-credentials" in response.json()["error"]
    assert Verification.objects.get().verified_at is None


@pytest.mark.django_db(transaction=True)  # each thread has a connection of its own
def test_twenty_parallel_wrong_attempts_from_one_caller_still_lock_it_out_after_five(started):
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


def test_wrong_codes_are_limited_per_caller_across_pairs(api, settings):
    settings.FACENITION_CODE_FAILURE_RATE_PER_IP = "3/h"
    for number in range(3):
        assert confirm_codes(api, f"p{number}@example.test", "+14155550123", "000000", "000000").status_code == 401

    response = confirm_codes(api, "p9@example.test", "+14155550124", "000000", "000000")

    assert response.status_code == 429
    assert "your address" in response.json()["error"]
    assert int(response["Retry-After"]) >= 1


def test_guesses_at_one_phones_code_are_limited_whatever_the_email_and_the_address(api, pair, settings):
    """An attacker who owns the email knows its code; the phone's is what they guess."""
    settings.FACENITION_CODE_FAILURE_RATE_PER_RECIPIENT = "3/d"
    phone = pair[1]
    victims = []
    for number in range(4):
        verification = Verification.start(email=f"attacker{number}@example.test", phone=phone)
        victims.append(verification)
        email_code, sms_code = verification.code_for(Channel.EMAIL), verification.code_for(Channel.SMS)
        response = confirm(api, verification, email_code, wrong(sms_code), source=f"203.0.113.{number}")
        if number < 3:
            assert response.status_code == 401

    assert response.status_code == 429
    assert "this email or phone" in response.json()["error"]


def test_strangers_who_know_neither_code_cannot_use_up_the_owners_budget(api, started, settings):
    settings.FACENITION_CODE_FAILURE_RATE_PER_RECIPIENT = "3/d"
    verification, email_code, sms_code = started
    for number in range(8):
        assert confirm(api, verification, "000000", "000000", source=f"203.0.113.{number}").status_code == 401

    assert confirm(api, verification, email_code, sms_code, source="198.51.100.20").status_code == 200


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


def test_the_right_codes_again_give_a_fresh_verification_token_and_the_first_stops_working(api, started):
    verification, email_code, sms_code = started
    first = confirm(api, verification, email_code, sms_code).json()["verification_token"]

    again = confirm(api, verification, email_code, sms_code)

    assert again.status_code == 200
    second = again.json()["verification_token"]
    assert second != first
    claim = {"email": verification.email, "phone": verification.phone}
    assert api.post("/v2/generateToken", {**claim, "verification_token": first}, format="json").status_code == 401
    assert api.post("/v2/generateToken", {**claim, "verification_token": second}, format="json").status_code == 201


def test_codes_whose_token_was_claimed_answer_409(api, started):
    verification, email_code, sms_code = started
    proof = confirm(api, verification, email_code, sms_code).json()["verification_token"]
    claim = {"email": verification.email, "phone": verification.phone, "verification_token": proof}
    assert api.post("/v2/generateToken", claim, format="json").status_code == 201

    response = confirm(api, verification, email_code, sms_code)

    assert response.status_code == 409
    assert "/v2/new-credentials" in response.json()["error"]


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
