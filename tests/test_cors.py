import pytest

pytestmark = pytest.mark.django_db

APP = "https://app.example.com"


def preflight(api, origin):
    return api.options(
        "/match",
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="x-auth-token, content-type",
    )


def test_a_listed_origin_passes_preflight(api, settings):
    settings.CORS_ALLOWED_ORIGINS = [APP]
    response = preflight(api, APP)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == APP
    assert "x-auth-token" in response["Access-Control-Allow-Headers"]


def test_an_unlisted_origin_gets_no_cors_headers(api, settings):
    settings.CORS_ALLOWED_ORIGINS = [APP]
    response = preflight(api, "https://evil.example.net")
    assert "Access-Control-Allow-Origin" not in response


def test_no_origin_is_allowed_by_default(api, settings):
    assert settings.CORS_ALLOWED_ORIGINS == []
    assert "Access-Control-Allow-Origin" not in preflight(api, APP)


def test_answers_to_a_listed_origin_expose_the_request_id(api, settings):
    settings.CORS_ALLOWED_ORIGINS = [APP]
    response = api.post("/match", HTTP_ORIGIN=APP)
    assert response.status_code == 401
    assert response["Access-Control-Allow-Origin"] == APP
    assert "x-request-id" in response["Access-Control-Expose-Headers"]
