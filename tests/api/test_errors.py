import pytest

from tests.conftest import make_image_bytes

pytestmark = pytest.mark.django_db


def assert_envelope(response, status):
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["ok"] is False
    assert isinstance(body["error"], str) and body["error"]
    return body["error"]


@pytest.mark.parametrize("path", ["/nope", "/v1/nope", "/v2/generate-tokens", "/admin-nope/x"])
def test_unknown_url_answers_404_envelope(api, path):
    assert "No endpoint" in assert_envelope(api.post(path), 404)


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_other_methods_answer_405_envelope(api, method):
    error = assert_envelope(getattr(api, method)("/generateToken"), 405)
    assert "POST" in error


def test_malformed_json_answers_400(api):
    response = api.generic("POST", "/generateToken", '{"name": ', content_type="application/json")
    assert "could not be read" in assert_envelope(response, 400)


def test_unsupported_content_type_answers_400(api):
    response = api.generic("POST", "/generateToken", "name=x", content_type="text/csv")
    assert "multipart" in assert_envelope(response, 400)


def test_validation_error_names_the_field(api):
    response = api.post("/generateToken", {"email": "not-an-email"}, format="json")
    assert assert_envelope(response, 400).startswith("email:")


def test_missing_client_token_answers_401(api):
    assert "X-Auth-Token" in assert_envelope(api.post("/match"), 401)


def test_unknown_client_token_answers_401(api):
    api.credentials(HTTP_X_AUTH_TOKEN="fnc_000000000000_nothing")
    assert "not valid" in assert_envelope(api.post("/match"), 401)


def test_unexpected_failure_answers_502_without_internals(authed, monkeypatch, caplog):
    def explode(**kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr("matching.api.faces_match", explode)
    from tests.conftest import make_image_bytes, upload

    response = authed.post(
        "/match",
        {"image": upload("a.png", make_image_bytes("PNG")), "reference": upload("b.png", make_image_bytes("PNG"))},
        format="multipart",
    )
    error = assert_envelope(response, 502)
    assert "secret internal detail" not in error and "Traceback" not in error
    request_id = response["X-Request-Id"]
    assert request_id in error
    assert any(request_id in record.getMessage() for record in caplog.records)


def test_an_oversized_body_is_refused_before_it_is_read(api, settings):
    settings.FACENITION_MAX_REQUEST_BYTES = 1000
    response = api.generic("POST", "/generateToken", '{"name": "' + "x" * 2000 + '"}', content_type="application/json")
    assert "at most 1 KB is accepted" in assert_envelope(response, 400)


@pytest.mark.parametrize("method", ["get", "put", "delete", "options"])
def test_wrong_method_is_reported_before_a_missing_token(api, method):
    assert "POST" in assert_envelope(getattr(api, method)("/match"), 405)


def test_a_json_body_that_is_not_an_object_is_explained(api):
    response = api.generic("POST", "/generateToken", "[1, 2]", content_type="application/json")
    assert assert_envelope(response, 400) == "Invalid data. Expected a dictionary, but got list."


def test_json_nested_a_thousand_levels_deep_answers_400(api):
    body = '{"name": ' + "[" * 1000 + "]" * 1000 + "}"
    response = api.generic("POST", "/generateToken", body, content_type="application/json")
    assert "nested more than 32 levels" in assert_envelope(response, 400)


def test_json_nested_a_hundred_levels_deep_answers_400(api):
    body = '{"name": ' + '{"a": ' * 100 + "1" + "}" * 100 + "}"
    response = api.generic("POST", "/generateToken", body, content_type="application/json")
    assert "nested more than 32 levels" in assert_envelope(response, 400)


def test_a_post_to_the_reference_page_refused_by_csrf_answers_the_envelope():
    from django.test import Client

    response = Client(enforce_csrf_checks=True).post("/", {"x": "1"})
    assert "cross-site request forgery" in assert_envelope(response, 403)


def test_a_request_that_waits_past_its_deadline_for_face_work_answers_503(authed, settings):
    import time

    from matching.reading import face_work
    from tests.conftest import make_image_bytes, upload

    settings.FACENITION_REQUEST_DEADLINE_SECONDS = 1
    settings.FACENITION_PHOTO_THREADS = 1  # this worker reads one photo at a time
    photo = make_image_bytes("PNG")
    with face_work():  # another request of this worker is reading its photos
        started = time.monotonic()
        response = authed.post("/match", {"image": upload("a", photo), "reference": upload("b", photo)})
    assert "too busy to read these photos within 1 s" in assert_envelope(response, 503)
    assert response["Retry-After"] == "5"
    assert time.monotonic() - started < 3


def test_a_json_body_sent_as_a_form_is_told_the_content_type_to_send(authed):
    response = authed.generic(
        "POST", "/match", b'{"image": "aGVsbG8=", "reference": "aGVsbG8="}',
        content_type="application/x-www-form-urlencoded",
    )  # fmt: skip

    error = assert_envelope(response, 400)
    assert "Content-Type: application/json" in error


def test_a_real_form_is_still_read(api):
    response = api.generic("POST", "/generateToken", "name=kiosk", content_type="application/x-www-form-urlencoded")

    assert response.status_code == 201
    assert api.post("/token", HTTP_X_AUTH_TOKEN=response.json()["token"]).json()["name"] == "kiosk"


def test_a_file_name_that_is_not_utf8_is_refused_naming_it(authed):
    photo = make_image_bytes(size=(800, 600))
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="image"; filename="caf\xe9.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n" + photo + b"\r\n--XyZ--\r\n"
    )
    response = authed.post("/match", body, content_type="multipart/form-data; boundary=XyZ")
    assert response.status_code == 400
    assert response.json()["error"] == (
        'The request body could not be read: image: the file name "caf\\xe9.jpg" is not UTF-8; '
        "send file names in UTF-8, or leave them out."
    )
