"""The admin's sign-in refuses a guesser: after five wrong passwords for one username, or from one
address, within fifteen minutes, that username and that address are refused, the right password too."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

pytestmark = pytest.mark.django_db

PASSWORD = "the-right-password"
LIMIT = 5


@pytest.fixture(autouse=True)
def operators():
    for name in ("admin", "operator"):
        get_user_model().objects.create_superuser(name, f"{name}@example.test", PASSWORD)


def sign_in(username, password, address, **headers):
    """A fresh browser's attempt from `address`; whether it came away signed in, and the status."""
    browser = Client(REMOTE_ADDR=address)
    response = browser.post("/admin/login/", {"username": username, "password": password}, **headers)
    return "_auth_user_id" in browser.session, response.status_code


def test_five_wrong_passwords_lock_the_username_even_against_the_right_one_from_elsewhere():
    for _ in range(LIMIT):
        sign_in("admin", "guess", "198.51.100.1")

    assert sign_in("admin", PASSWORD, "203.0.113.7") == (False, 429)
    assert sign_in("operator", PASSWORD, "203.0.113.8") == (True, 302)


def test_five_wrong_passwords_from_one_address_lock_that_address_for_every_username():
    for guess in range(LIMIT):
        sign_in(f"user-{guess}", "guess", "198.51.100.1")

    assert sign_in("operator", PASSWORD, "198.51.100.1") == (False, 429)
    assert sign_in("operator", PASSWORD, "198.51.100.2") == (True, 302)


def test_a_forged_forwarded_for_header_does_not_escape_the_count(settings):
    for guess in range(LIMIT):
        sign_in(f"user-{guess}", "guess", "198.51.100.1", HTTP_X_FORWARDED_FOR=f"192.0.2.{guess}")

    assert sign_in("operator", PASSWORD, "198.51.100.1", HTTP_X_FORWARDED_FOR="192.0.2.99") == (False, 429)


def test_behind_a_trusted_proxy_the_address_it_saw_is_counted(settings):
    settings.FACENITION_TRUSTED_PROXIES = 1
    for guess in range(LIMIT):
        sign_in(f"user-{guess}", "guess", "10.0.0.1", HTTP_X_FORWARDED_FOR=f"forged, 198.51.100.{guess}")

    assert sign_in("operator", PASSWORD, "10.0.0.1", HTTP_X_FORWARDED_FOR="forged, 198.51.100.77") == (True, 302)
    for _ in range(LIMIT):
        sign_in("user-x", "guess", "10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert sign_in("operator", PASSWORD, "10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.1") == (False, 429)
