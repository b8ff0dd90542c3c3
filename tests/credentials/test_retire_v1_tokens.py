from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from credentials.models import ClientToken
from credentials.services import client_token_issue

pytestmark = pytest.mark.django_db


@pytest.fixture
def tokens():
    """Two active v1 tokens of one client, an expired v1 token, and an active v2 token."""
    v1, v1_raw = client_token_issue(name="v1 client", api_version="1")
    _, v1_second_raw = client_token_issue(client=v1.client, api_version="1")
    expired, _ = client_token_issue(name="expired v1", api_version="1")
    ClientToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    _, v2_raw = client_token_issue(name="v2 pair", api_version="2")
    return v1_raw, v1_second_raw, v2_raw


def status_with(api, raw):
    """The status /match answers a request carrying `raw` and no photo: 400 once the token passes."""
    return api.post("/match", {}, format="json", HTTP_X_AUTH_TOKEN=raw).status_code


def test_retire_v1_tokens_locks_out_every_v1_client_and_no_v2_one(api, tokens, settings):
    settings.FACENITION_V1_TOKENS = False
    v1_raw, v1_second_raw, v2_raw = tokens
    out, err = StringIO(), StringIO()

    call_command("retire_v1_tokens", stdout=out, stderr=err)

    assert out.getvalue() == "Revoked 2 active v1 client token(s) of 1 client(s).\n"
    assert err.getvalue() == ""
    assert status_with(api, v1_raw) == 401
    assert status_with(api, v1_second_raw) == 401
    assert status_with(api, v2_raw) == 400


def test_retire_v1_tokens_dry_run_counts_and_revokes_nothing_and_warns_while_v1_still_issues(api, tokens, settings):
    settings.FACENITION_V1_TOKENS = True
    v1_raw, _, _ = tokens
    out, err = StringIO(), StringIO()

    call_command("retire_v1_tokens", "--dry-run", stdout=out, stderr=err)

    assert out.getvalue() == "Would revoke 2 active v1 client token(s) of 1 client(s).\n"
    assert "FACENITION_V1_TOKENS is still true" in err.getvalue()
    assert status_with(api, v1_raw) == 400
