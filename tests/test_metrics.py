import pytest

pytestmark = pytest.mark.django_db

SECRET = "m" * 24


def test_metrics_are_off_by_default(api):
    response = api.get("/metrics")
    assert response.status_code == 404
    assert response.json()["ok"] is False


def test_metrics_need_the_token(api, settings):
    settings.FACENITION_METRICS_TOKEN = SECRET
    assert api.get("/metrics").status_code == 401
    assert api.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401


def test_metrics_count_answers_per_endpoint_and_status_and_time_them(api, settings):
    settings.FACENITION_METRICS_TOKEN = SECRET
    api.post("/match")  # 401: no client token
    api.post("/v2/match")
    response = api.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {SECRET}")
    assert response.status_code == 200
    text = response.content.decode()
    assert 'django_http_responses_total_by_status_view_method_total{method="POST",status="401",view="match"}' in text
    assert 'django_http_requests_latency_seconds_by_view_method_bucket{le="0.1",method="POST",view="match"}' in text
