import pytest

pytestmark = pytest.mark.django_db


def test_no_prefix_means_v1(api):
    body = api.post("/generateToken", {"name": "a"}, format="json").json()
    describe = api.post("/token", HTTP_X_AUTH_TOKEN=body["token"]).json()
    assert describe["api_version"] == "1"


def test_prefix_selects_the_version(api):
    body = api.post("/v2/token", HTTP_X_AUTH_TOKEN="fnc_unknown_x").json()
    assert body == {"ok": False, "error": "No such client token."}


def test_header_beats_prefix(api):
    token = api.post("/v1/generateToken", {}, format="json").json()["token"]
    assert api.post("/v1/token", HTTP_X_AUTH_TOKEN=token, HTTP_X_API_VERSION="7").status_code == 404


@pytest.mark.parametrize("path", ["/v3/token", "/v0/match", "/v99/generateToken"])
def test_unknown_version_prefix_answers_404_envelope(api, path):
    response = api.post(path, {}, format="json")
    assert response.status_code == 404
    assert response.json()["ok"] is False
    assert "version" in response.json()["error"]


def test_unknown_version_header_answers_404(api):
    response = api.post("/token", HTTP_X_API_VERSION="3")
    assert response.status_code == 404
    assert "API version '3'" in response.json()["error"]


@pytest.mark.parametrize("prefix", ["", "/v1", "/v2"])
def test_every_endpoint_is_reachable_under_each_prefix(api, prefix):
    response = api.post(f"{prefix}/match", {}, format="json")
    assert response.status_code == 401  # reached the endpoint, which wants a client token
