import logging

import pytest
from django.db import connection

from credentials.models import Delivery, Verification

from .support import confirm_codes, request_codes, wait_for, wrong

pytestmark = pytest.mark.django_db


@pytest.mark.django_db(transaction=True)  # the worker, another process, reads committed rows
def test_it_emails_and_texts_two_codes_that_verify_the_pair(api, pair, delivered_codes):
    email, phone = pair
    email_code, sms_code = delivered_codes(email, phone)

    response = confirm_codes(api, email, phone, email_code, sms_code)

    assert response.status_code == 200, response.json()
    assert response.json()["verified"] is True


def test_it_answers_the_codes_lifetime_and_no_verification_id(api, pair, published, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = request_codes(api, *pair)

    assert response.status_code == 202
    assert response.json() == {"ok": True, "expires_in": 600}
    assert Verification.objects.get().email == pair[0]
    assert len(published) == 2  # once the verification is committed, a delivery is queued per code


def test_a_stranger_asking_for_a_pending_pair_gets_the_same_answer_as_for_a_new_one(
    api, pair, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = request_codes(api, *pair, REMOTE_ADDR="198.51.100.20")
        second = request_codes(api, *pair, REMOTE_ADDR="203.0.113.7")

    assert first.json() == second.json() == {"ok": True, "expires_in": 600}
    assert str(Verification.objects.get().pk) not in second.content.decode()


def test_sends_are_limited_per_phone_whatever_the_email(api, pair, settings, django_capture_on_commit_callbacks):
    settings.FACENITION_CODE_SEND_RATE_PER_RECIPIENT = "3/h"
    phone = pair[1]
    with django_capture_on_commit_callbacks(execute=True):
        for number in range(3):
            assert (
                request_codes(api, f"{number}-{pair[0]}", phone, REMOTE_ADDR=f"203.0.113.{number}").status_code == 202
            )

        response = request_codes(api, f"9-{pair[0]}", phone, REMOTE_ADDR="203.0.113.9")

    assert response.status_code == 429
    assert "this phone number" in response.json()["error"]
    assert Verification.objects.filter(phone=phone).count() == 3


def test_sends_are_limited_per_email_whatever_the_phone(api, pair, settings, django_capture_on_commit_callbacks):
    settings.FACENITION_CODE_SEND_RATE_PER_RECIPIENT = "3/h"
    email = pair[0]
    with django_capture_on_commit_callbacks(execute=True):
        for number in range(3):
            assert request_codes(api, email, f"+1415555020{number}").status_code == 202

        response = request_codes(api, email, "+14155550209")

    assert response.status_code == 429
    assert "this email address" in response.json()["error"]


def test_sends_are_limited_per_caller_whatever_the_pair(api, settings, django_capture_on_commit_callbacks):
    settings.FACENITION_CODE_SEND_RATE_PER_IP = "3/h"
    with django_capture_on_commit_callbacks(execute=True):
        for number in range(3):
            assert request_codes(api, f"n{number}@example.test", f"+1415555030{number}").status_code == 202

        response = request_codes(api, "n9@example.test", "+14155550309")
        other_caller = request_codes(api, "n8@example.test", "+14155550308", REMOTE_ADDR="198.51.100.20")

    assert response.status_code == 429
    assert "your address" in response.json()["error"]
    assert other_caller.status_code == 202


@pytest.mark.django_db(transaction=True)  # the worker, another process, reads committed rows
def test_it_records_both_codes_sent(api, pair, delivered_codes):
    delivered_codes(*pair)

    verification = wait_for(
        lambda: Verification.objects.filter(
            email=pair[0], email_status=Delivery.SENT, sms_status=Delivery.SENT
        ).first(),
        what="both deliveries recorded",
    )
    assert verification.email_sent_at and verification.sms_sent_at
    assert verification.email_error == verification.sms_error == ""


@pytest.mark.django_db(transaction=True)  # the worker, another process, reads committed rows
def test_it_keeps_leading_zeros_and_sends_six_digits(api, pair, delivered_codes):
    for code in delivered_codes(*pair):
        assert len(code) == 6 and code.isdigit()


def everything_stored():
    """Every row of every table, as text."""
    with connection.cursor() as cursor:
        rows = []
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT t::text FROM "{table}" AS t')
            rows.extend(row[0] for row in cursor.fetchall())
    return "\n".join(rows)


@pytest.mark.django_db(transaction=True)  # the worker, another process, reads committed rows
def test_no_plaintext_code_reaches_the_database_the_broker_or_the_logs(
    api, pair, worker, mails, texts, published, caplog
):
    caplog.set_level(logging.DEBUG)
    email, phone = pair

    request_codes(api, email, phone)
    codes = [mails.wait(email)[-1].code, texts.wait(phone)[-1].code]
    request_codes(api, email, phone)  # a re-send goes the same way
    mails.wait(email, count=2)
    texts.wait(phone, count=2)
    confirm_codes(api, email, phone, wrong(codes[0]), codes[1])
    confirm_codes(api, email, phone, *codes)
    api.post("/v2/generateToken", {"email": email, "phone": phone}, format="json")

    assert len(published) == 4
    stored, logged, worker_log = everything_stored(), caplog.text, worker.text()
    assert email in stored and phone in stored  # the dump really holds the verification
    assert "succeeded" in worker_log  # and the worker's log really holds its work
    for code in codes:
        assert code not in stored
        assert not any(code in message for message in published)
        assert code not in logged
        assert code not in worker_log


@pytest.mark.django_db(transaction=True)  # the worker, another process, reads committed rows
def test_asking_again_resends_the_same_codes_for_a_full_lifetime_and_keeps_the_failure_count(
    api, pair, delivered_codes, mails, texts
):
    email, phone = pair
    email_code, sms_code = delivered_codes(email, phone)
    confirm_codes(api, email, phone, wrong(email_code), sms_code)

    first = Verification.objects.get(email=email)
    response = request_codes(api, email, phone)

    assert response.status_code == 202
    assert mails.wait(email, count=2)[-1].code == email_code
    assert texts.wait(phone, count=2)[-1].code == sms_code
    again = Verification.objects.get(pk=first.pk)
    assert again.failed_attempts == 1
    assert again.sends == 2
    assert again.expires_at > first.expires_at  # a full lifetime from the re-send
    assert Verification.objects.filter(email=email).count() == 1


def test_the_sixth_send_to_a_pair_within_ten_minutes_answers_429(api, pair, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(5):
            assert request_codes(api, *pair).status_code == 202

        response = request_codes(api, *pair)

    assert response.status_code == 429
    assert response.json()["ok"] is False
    assert "too often" in response.json()["error"]
    assert 1 <= int(response["Retry-After"]) <= 600
    assert Verification.objects.get(email=pair[0]).sends == 5


def test_the_send_limit_counts_per_pair(api, pair, django_capture_on_commit_callbacks):
    email, phone = pair
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(5):
            request_codes(api, email, phone)

        assert request_codes(api, "other-" + email, phone).status_code == 202


@pytest.mark.django_db(transaction=True)  # the worker, another process, reads committed rows
def test_a_locked_verification_starts_over_with_a_new_one(api, pair, delivered_codes, mails, texts):
    email, phone = pair
    email_code, sms_code = delivered_codes(email, phone)
    for attempt in range(20):
        confirm_codes(api, email, phone, wrong(email_code), wrong(sms_code), REMOTE_ADDR=f"203.0.113.{attempt // 5}")

    response = request_codes(api, email, phone)

    assert response.status_code == 202
    assert Verification.objects.filter(email=email).count() == 2
    new_codes = mails.wait(email, count=2)[-1].code, texts.wait(phone, count=2)[-1].code
    assert confirm_codes(api, email, phone, *new_codes).status_code == 200


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"phone": "+14155552671"}, "email"),
        ({"email": "not-an-address", "phone": "+14155552671"}, "email"),
        ({"email": ["a@example.test"], "phone": "+14155552671"}, "email"),
        ({"email": "a@example.test"}, "phone"),
        ({"email": "a@example.test", "phone": "4155552671"}, "phone"),
        ({"email": "a@example.test", "phone": "+1 415 555 2671"}, "phone"),
        ({"email": "a@example.test", "phone": "+1415555267"}, "phone"),
        ({"email": "a@example.test", "phone": "+999123456"}, "phone"),
        ({"email": "a@example.test", "phone": "+14155552671x"}, "phone"),
        ({"email": "a@example.test", "phone": 14155552671}, "phone"),
    ],
)
def test_bad_input_answers_400_naming_the_field_and_changes_nothing(
    api, payload, field, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/v2/new-credentials", payload, format="json")

    assert response.status_code == 400
    assert response.json()["ok"] is False
    assert response.json()["error"].startswith(f"{field}:")
    assert not Verification.objects.exists()
    assert published == []


def test_it_takes_form_data_too(api, pair, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/v2/new-credentials", {"email": pair[0], "phone": pair[1]})

    assert response.status_code == 202


def test_one_mailbox_is_one_pair_however_it_is_typed(api, pair, django_capture_on_commit_callbacks):
    email, phone = pair
    with django_capture_on_commit_callbacks(execute=True):
        request_codes(api, email.upper(), phone)
        request_codes(api, email, phone)

    assert Verification.objects.get().sends == 2


@pytest.mark.parametrize(
    "path, headers",
    [("/new-credentials", {}), ("/v1/new-credentials", {}), ("/v2/new-credentials", {"HTTP_X_API_VERSION": "1"})],
)
def test_it_does_not_exist_on_v1(api, pair, path, headers, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(path, {"email": pair[0], "phone": pair[1]}, format="json", **headers)

    assert response.status_code == 404
    assert "only from API v2" in response.json()["error"]
    assert not Verification.objects.exists()


@pytest.mark.django_db(transaction=True)  # the codes are queued as the request commits, for the worker
def test_it_answers_502_and_marks_nothing_sent_when_the_broker_is_down(api, pair, broker_down, worker, mails, texts):
    email, phone = pair

    with broker_down():
        response = request_codes(api, email, phone)

    assert response.status_code == 502
    assert response.json() == {
        "ok": False,
        "error": "The codes could not be queued for sending; try again in a moment.",
    }
    verification = Verification.objects.get(email=email)
    assert verification.email_status == Delivery.FAILED and verification.sms_status == Delivery.FAILED
    assert "not queued" in verification.email_error
    assert verification.email_sent_at is None and verification.sms_sent_at is None
    assert mails.to(email) == [] and texts.to(phone) == []


@pytest.mark.django_db(transaction=True)  # the codes are queued as the request commits, for the worker
def test_a_resend_the_broker_refuses_leaves_nothing_marked_sent(api, pair, delivered_codes, broker_down):
    email, phone = pair
    delivered_codes(email, phone)
    wait_for(
        lambda: Verification.objects.filter(email=email, email_status=Delivery.SENT, sms_status=Delivery.SENT).exists()
    )

    with broker_down():
        response = request_codes(api, email, phone)

    assert response.status_code == 502
    verification = Verification.objects.get(email=email)
    assert Delivery.SENT not in (verification.email_status, verification.sms_status)
