import io
import json
import logging

import pytest

from facenition.requestid import JsonFormatter, RequestIdFilter

pytestmark = pytest.mark.django_db


def test_an_incoming_request_id_is_kept(api):
    response = api.post("/match", HTTP_X_REQUEST_ID="lb-7f3a.1")
    assert response["X-Request-Id"] == "lb-7f3a.1"


@pytest.mark.parametrize("incoming", ["", "has spaces", "x" * 200, "<script>"])
def test_an_unusable_request_id_is_replaced(api, incoming):
    response = api.post("/match", HTTP_X_REQUEST_ID=incoming)
    assert response["X-Request-Id"] != incoming
    assert len(response["X-Request-Id"]) == 16


def test_log_lines_written_during_a_request_carry_its_id_as_json(authed, monkeypatch):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("facenition.api")
    logger.addHandler(handler)

    def explode(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("matching.api.faces_match", explode)
    from tests.conftest import make_image_bytes, upload

    try:
        authed.post(
            "/match",
            {"image": upload("a.png", make_image_bytes("PNG")), "reference": upload("b.png", make_image_bytes("PNG"))},
            format="multipart",
            HTTP_X_REQUEST_ID="trace-42",
        )
    finally:
        logger.removeHandler(handler)
    line = json.loads(stream.getvalue().splitlines()[0])
    assert line["request_id"] == "trace-42"
    assert line["level"] == "ERROR" and "RuntimeError: boom" in line["exception"]


def test_a_request_for_a_host_not_served_logs_one_warning_naming_it_and_the_setting(client, caplog):
    response = client.get("/health", HTTP_HOST="scanner.example")

    assert response.status_code == 400
    [record] = [r for r in caplog.records if r.name.startswith("django.security")]
    assert record.levelname == "WARNING"
    assert record.exc_info is None and "Traceback" not in caplog.text
    assert "'scanner.example'" in record.getMessage() and "ALLOWED_HOSTS" in record.getMessage()


def test_a_request_for_a_host_not_served_is_told_the_setting_and_the_value_to_add(client):
    response = client.post("/match", HTTP_HOST="faces.internal:8000")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert "'faces.internal:8000'" in error
    assert "ALLOWED_HOSTS=127.0.0.1,localhost,faces.internal" in error


def test_a_host_header_is_quoted_back_printable_and_short(client):
    response = client.post("/match", HTTP_HOST="evil\x1b[31m" + "x" * 500)

    error = response.json()["error"]
    assert "\x1b" not in error and len(error) < 600
