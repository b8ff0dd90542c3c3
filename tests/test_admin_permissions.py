"""Who may run which admin action: viewing a page is not changing anything, and minting a client
token (shown in clear) takes a permission of its own that no role has by default."""

from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.core.exceptions import PermissionDenied
from django.test import RequestFactory
from django.utils import timezone

from credentials.models import Client, ClientToken, Verification
from credentials.services import client_token_issue
from enrollment.models import Enrollment
from matching.models import Subject
from tests.matching.conftest import synthetic_subjects

pytestmark = pytest.mark.django_db

VIEW_ONLY = (
    "credentials.view_client",
    "credentials.view_clienttoken",
    "credentials.view_verification",
    "enrollment.view_enrollment",
    "matching.view_subject",
)

# (changelist, action, model whose row it acts on)
ACTIONS = [
    ("/admin/credentials/client/", "issue_tokens", Client),
    ("/admin/credentials/client/", "delete_clients", Client),
    ("/admin/credentials/clienttoken/", "revoke_tokens", ClientToken),
    ("/admin/credentials/clienttoken/", "rotate_tokens", ClientToken),
    ("/admin/credentials/verification/", "expire_verifications", Verification),
    ("/admin/enrollment/enrollment/", "revoke_enrollments", Enrollment),
    ("/admin/matching/subject/", "forget_subjects", Subject),
]


@pytest.fixture
def rows():
    """One row of each kind an action changes."""
    token = client_token_issue(name="kiosk", email="kiosk@example.test", phone="+14155550123").token
    Verification.start(email="kiosk@example.test", phone="+14155550123")
    Enrollment.objects.create(
        client=token.client,
        subject="user-1",
        accuracy=3,
        scheme_version=1,
        token_digest="0" * 64,
        expires_at=timezone.now() + timedelta(days=1),
    )
    synthetic_subjects(token.client, 1, prefix="person")
    return {model: model.objects.get() for model in (Client, ClientToken, Verification, Enrollment, Subject)}


def state():
    """Everything an action could change, as a value to compare."""
    return (
        list(ClientToken.objects.order_by("pk").values_list("pk", "revoked_at")),
        list(Client.objects.values_list("pk", flat=True)),
        list(Verification.objects.values_list("expires_at", flat=True)),
        list(Enrollment.objects.values_list("revoked_at", flat=True)),
        list(Subject.objects.values_list("pk", flat=True)),
        LogEntry.objects.count(),
    )


def run(browser, changelist, action, row):
    return browser.post(changelist, {"action": action, "_selected_action": [row.pk]}, follow=True)


@pytest.mark.parametrize(("changelist", "action", "model"), ACTIONS)
def test_a_staff_member_who_may_only_view_cannot_run_an_action_a_superuser_can(
    staff_client, admin_user, rows, changelist, action, model
):
    browser = staff_client(*VIEW_ONLY)
    before = state()

    response = run(browser, changelist, action, rows[model])

    assert state() == before
    assert "fn_" not in response.content.decode()  # no client token was shown
    browser.force_login(admin_user)
    run(browser, changelist, action, rows[model])
    assert state() != before


@pytest.mark.parametrize(("changelist", "action", "model"), ACTIONS)
def test_an_action_refuses_a_user_without_its_permission_even_when_called_directly(rows, changelist, action, model):
    from django.contrib.auth import get_user_model

    request = RequestFactory().post(changelist)
    request.user = get_user_model().objects.create_user("viewer", is_staff=True)
    model_admin = admin.site.get_model_admin(model)
    before = state()

    with pytest.raises(PermissionDenied):
        getattr(model_admin, action)(request, model.objects.filter(pk=rows[model].pk))
    assert state() == before


def test_a_staff_member_who_may_only_view_is_offered_no_action(staff_client, rows):
    browser = staff_client(*VIEW_ONLY)

    for changelist, action, _ in ACTIONS:
        response = browser.get(changelist)
        assert response.status_code == 200, changelist
        assert action not in response.content.decode(), changelist


def test_changing_client_tokens_is_not_enough_to_mint_one(staff_client, rows):
    browser = staff_client(
        "credentials.view_client",
        "credentials.change_client",
        "credentials.view_clienttoken",
        "credentials.change_clienttoken",
    )
    before = state()

    run(browser, "/admin/credentials/client/", "issue_tokens", rows[Client])
    run(browser, "/admin/credentials/clienttoken/", "rotate_tokens", rows[ClientToken])

    assert state() == before
    offered = browser.get("/admin/credentials/clienttoken/").content.decode()
    assert "revoke_tokens" in offered and "rotate_tokens" not in offered
    assert "issue_tokens" not in browser.get("/admin/credentials/client/").content.decode()
    run(browser, "/admin/credentials/clienttoken/", "revoke_tokens", rows[ClientToken])
    assert ClientToken.objects.get().is_revoked()


def test_a_staff_member_given_the_issue_permission_mints_a_token(staff_client, rows):
    browser = staff_client("credentials.view_client", "credentials.issue_client_token")

    run(browser, "/admin/credentials/client/", "issue_tokens", rows[Client])

    assert ClientToken.objects.filter(client=rows[Client]).count() == 2


def test_the_admin_carries_the_products_name(client):
    page = client.get("/admin/login/").content.decode()

    assert "Facenition server administration" in page
    assert "Django administration" not in page
