import pytest

from facenition import startup

pytestmark = pytest.mark.django_db


def test_health_answers_without_a_client_token(api):
    response = api.get("/health")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "status": "alive"}


def test_ready_answers_200_when_database_cache_and_broker_answer(api, settings):
    settings.FACENITION_WARM_UP = False
    response = api.get("/ready")
    assert response.status_code == 200, response.json()
    checks = response.json()["checks"]
    assert checks["database"] == checks["cache"] == "ok"
    assert checks.get("broker") == ("ok" if settings.REDIS_URL else None)
    assert checks["models"] == "loaded on first use"


def test_ready_answers_503_until_the_face_models_are_loaded(api, settings, monkeypatch):
    settings.FACENITION_WARM_UP = True
    monkeypatch.setattr(startup, "models_state", "loading")
    response = api.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["ok"] is False
    assert body["error"] == "Not ready: models failing: face models loading."


def test_ready_names_an_unreachable_cache(api, settings):
    settings.FACENITION_WARM_UP = False
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    response = api.get("/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["cache"].startswith("failing: ")
    assert response.json()["checks"]["database"] == "ok"


def test_probes_answer_other_methods_with_the_error_envelope(api):
    response = api.post("/health")
    assert response.status_code == 405
    assert response.json()["ok"] is False
