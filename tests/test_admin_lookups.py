"""The list pages narrow only through the filters they show: a hand-written lookup in the query
string (`?email__startswith=k`) would say, by whether a row stays, what the page masks or never shows."""

from datetime import timedelta

import pytest
from django.utils import timezone

from credentials.models import ClientToken, Verification
from credentials.services import client_token_issue
from enrollment.models import Enrollment

pytestmark = pytest.mark.django_db

EMAIL = "kiosk@example.test"
PHONE = "+14155550123"
DIGEST = "ab" * 32

# (list page, lookup, a value that matches the hidden row, one that does not)
HAND_WRITTEN = [
    ("/admin/credentials/client/", "email__startswith", "kio", "zzz"),
    ("/admin/credentials/client/", "phone__startswith", "+1415", "+999"),
    ("/admin/credentials/client/", "email__regex", "^k", "^z"),
    ("/admin/credentials/client/", "credentials__digest__startswith", "", "zz"),
    ("/admin/credentials/verification/", "email__startswith", "kio", "zzz"),
    ("/admin/credentials/verification/", "phone__startswith", "+1415", "+999"),
    ("/admin/credentials/verification/", "code_seed__regex", ".", "^~"),
    ("/admin/credentials/clienttoken/", "client__email__startswith", "kio", "zzz"),
    ("/admin/credentials/clienttoken/", "client__phone__startswith", "+1415", "+999"),
    ("/admin/credentials/clienttoken/", "digest__regex", ".", "^~"),
    ("/admin/enrollment/enrollment/", "token_digest__startswith", "ab", "zz"),
    ("/admin/enrollment/enrollment/", "client__email__startswith", "kio", "zzz"),
    ("/admin/matching/gallery/", "client__email__startswith", "kio", "zzz"),
    ("/admin/matching/subject/", "gallery__client__phone__startswith", "+1415", "+999"),
]

VIEWER = (
    "credentials.view_client",
    "credentials.view_clienttoken",
    "credentials.view_verification",
    "enrollment.view_enrollment",
    "matching.view_gallery",
    "matching.view_subject",
)


@pytest.fixture
def rows():
    from tests.matching.conftest import synthetic_subjects

    client = client_token_issue(name="kiosk", email=EMAIL, phone=PHONE).token.client
    Verification.start(email=EMAIL, phone=PHONE)
    Enrollment.objects.create(
        client=client,
        accuracy=3,
        scheme_version=1,
        token_digest=DIGEST,
        expires_at=timezone.now() + timedelta(days=1),
    )
    synthetic_subjects(client, 1)


def answer(browser, page, lookup, value):
    response = browser.get(page, {lookup: value})
    return response.status_code, response.content


@pytest.fixture(params=["view-only staff", "superuser"])
def browser(request, staff_client, admin_client):
    return staff_client(*VIEWER) if request.param == "view-only staff" else admin_client


def test_the_lists_narrow_only_through_their_declared_filters(browser, rows):
    for page, lookup, hit, miss in HAND_WRITTEN:
        assert answer(browser, page, lookup, hit) == answer(browser, page, lookup, miss), (page, lookup)
        assert answer(browser, page, lookup, hit)[0] == 400, (page, lookup)

    token = ClientToken.objects.get()
    shown = browser.get("/admin/credentials/clienttoken/", {"revoked_at__isnull": "True"}).content.decode()
    verified = browser.get("/admin/credentials/client/", {"verified_at__isempty": "0"}).content.decode()
    by_client = browser.get("/admin/enrollment/enrollment/", {"client__id__exact": token.client_id, "state": "active"})
    assert token.prefix in shown
    assert "0 clients" in verified
    assert by_client.status_code == 200 and "1 enrollment" in by_client.content.decode()
