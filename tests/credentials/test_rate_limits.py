"""The shared rate-limit machinery (facenition/api/ratelimits.py) on the endpoints that use it."""

import pytest

from credentials.models import Client
from credentials.services import client_token_issue

from .support import free_port

pytestmark = pytest.mark.django_db


def describe(api, **headers):
    return api.post("/token", HTTP_X_AUTH_TOKEN="fnc_unknown_x", **headers)


def test_endpoints_without_a_client_token_are_limited_per_client_ip(api, settings):
    settings.FACENITION_RATE_LIMIT_PER_IP = "3/m"
    assert [describe(api).status_code for _ in range(3)] == [404] * 3

    response = describe(api)

    assert response.status_code == 429
    assert response.json()["ok"] is False and "3/m" in response.json()["error"]
    assert 1 <= int(response["Retry-After"]) <= 60
    assert describe(api, REMOTE_ADDR="192.0.2.7").status_code == 404


def test_onboarding_endpoints_are_limited_per_client_ip(api, settings, pair):
    settings.FACENITION_RATE_LIMIT_PER_IP = "2/m"
    payload = {"email": pair[0], "phone": pair[1], "email_code": "000000", "sms_code": "000000"}
    for _ in range(2):
        api.post("/v2/authenticate-credentials", payload, format="json")

    assert api.post("/v2/authenticate-credentials", payload, format="json").status_code == 429
    assert api.post("/v2/generateToken", payload, format="json").status_code == 401  # a budget of its own


def test_a_forwarded_address_is_ignored_without_a_trusted_proxy(api, settings):
    settings.FACENITION_RATE_LIMIT_PER_IP = "2/m"
    describe(api, HTTP_X_FORWARDED_FOR="198.51.100.1")
    describe(api, HTTP_X_FORWARDED_FOR="198.51.100.2")

    assert describe(api, HTTP_X_FORWARDED_FOR="198.51.100.3").status_code == 429


def test_behind_a_trusted_proxy_the_forwarded_address_counts(api, settings):
    settings.FACENITION_RATE_LIMIT_PER_IP = "2/m"
    settings.FACENITION_TRUSTED_PROXIES = 1
    for _ in range(2):
        describe(api, HTTP_X_FORWARDED_FOR="spoofed, 198.51.100.1")

    assert describe(api, HTTP_X_FORWARDED_FOR="spoofed, 198.51.100.1").status_code == 429
    assert describe(api, HTTP_X_FORWARDED_FOR="spoofed, 198.51.100.2").status_code == 404


def test_match_is_limited_per_client_token(api, settings):
    settings.FACENITION_RATE_LIMIT_PER_TOKEN = "2/m"
    first, second = client_token_issue().raw, client_token_issue().raw
    for _ in range(2):
        assert api.post("/match", HTTP_X_AUTH_TOKEN=first).status_code == 400  # no images

    response = api.post("/match", HTTP_X_AUTH_TOKEN=first)

    assert response.status_code == 429 and response["Retry-After"]
    assert api.post("/match", HTTP_X_AUTH_TOKEN=second).status_code == 400


@pytest.fixture
def redis_down(settings):
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": nowhere}}


@pytest.mark.parametrize(
    "path, payload",
    [
        ("/v2/new-credentials", {"email": "a@example.test", "phone": "+14155552671"}),
        (
            "/v2/authenticate-credentials",
            {"email": "a@example.test", "phone": "+14155552671", "email_code": "000000", "sms_code": "000000"},
        ),
        ("/v2/generateToken", {"email": "a@example.test", "phone": "+14155552671"}),
        ("/generateToken", {}),
        ("/token", {}),
    ],
)
def test_limited_endpoints_answer_502_when_redis_is_down(api, redis_down, path, payload):
    response = api.post(path, payload, format="json")

    assert response.status_code == 502
    assert response.json() == {
        "ok": False,
        "error": "The rate-limit store is unreachable, so this endpoint is not serving requests; try again shortly.",
    }


def test_match_answers_502_when_redis_is_down(api, redis_down):
    raw = client_token_issue().raw

    response = api.post("/match", HTTP_X_AUTH_TOKEN=raw)

    assert response.status_code == 502
    assert "rate-limit store is unreachable" in response.json()["error"]


def test_one_address_can_make_only_so_many_v1_clients_each_with_its_own_face_budget(api, settings):
    settings.FACENITION_V1_TOKEN_RATE_PER_IP = "3/h"
    assert [api.post("/generateToken", {"name": "n"}, format="json").status_code for _ in range(3)] == [201] * 3

    response = api.post("/generateToken", {"name": "n"}, format="json")

    assert response.status_code == 429
    assert "new clients from your address" in response.json()["error"]
    assert Client.objects.count() == 3
    assert api.post("/generateToken", {"name": "n"}, format="json", REMOTE_ADDR="192.0.2.7").status_code == 201
