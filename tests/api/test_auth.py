"""Where a client token may travel: the X-Auth-Token header, an Authorization: Bearer header (what
generated clients and HTTP libraries send), or an `auth_token` field."""

import pytest

pytestmark = pytest.mark.django_db


def describe(api, **headers):
    return api.post("/match", {}, format="json", **headers)


def test_a_bearer_token_authenticates_like_the_header(api, client_token):
    assert describe(api, HTTP_AUTHORIZATION=f"Bearer {client_token}").status_code == 400  # in: images missing
    assert describe(api, HTTP_AUTHORIZATION=f"bearer {client_token}").status_code == 400
    assert describe(api, HTTP_X_AUTH_TOKEN=client_token).status_code == 400


def test_a_wrong_bearer_token_is_refused(api):
    response = describe(api, HTTP_AUTHORIZATION="Bearer fnc_unknown_x")

    assert response.status_code == 401


def test_another_authorization_scheme_is_no_client_token(api, client_token):
    response = describe(api, HTTP_AUTHORIZATION=f"Basic {client_token}")

    assert response.status_code == 401


def test_two_headers_with_different_tokens_are_a_400_naming_both(api, client_token):
    response = describe(api, HTTP_X_AUTH_TOKEN=client_token, HTTP_AUTHORIZATION="Bearer fnc_other_y")

    assert response.status_code == 400
    assert "X-Auth-Token and Authorization: Bearer carry different client tokens" in response.json()["error"]


def test_the_same_token_in_both_headers_is_fine(api, client_token):
    response = describe(api, HTTP_X_AUTH_TOKEN=client_token, HTTP_AUTHORIZATION=f"Bearer {client_token}")

    assert response.status_code == 400 and "image" in response.json()["error"]


def test_a_header_beats_the_field(api, client_token):
    response = api.post(
        "/match", {"auth_token": "fnc_unknown_x"}, format="json", HTTP_AUTHORIZATION=f"Bearer {client_token}"
    )

    assert response.status_code == 400 and "image" in response.json()["error"]
