"""Real answers fit the answer schemas /openapi.json publishes for their status, strictly: every
field the schema requires is there, and a field it does not name fails (as if each object said
`additionalProperties: false`), so an answer cannot grow or lose a field without its schema."""

import uuid

import pytest
from jsonschema import Draft202012Validator
from rest_framework.test import APIClient

from tests.matching.conftest import gallery_enroll, gallery_identify

pytestmark = pytest.mark.django_db

ENROLL = ("deepface-a_img1.jpg", "deepface-a_img2.jpg")
GENUINE = "deepface-a_img4.jpg"


@pytest.fixture
def published(api):
    response = api.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def strict(schema, components):
    """An OpenAPI answer schema as JSON Schema: references resolved, `nullable` as a null type, and
    every object closed to the properties it names."""
    if isinstance(schema, list):
        return [strict(item, components) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        return strict(components[schema["$ref"].rsplit("/", 1)[1]], components)
    closed = {key: strict(value, components) for key, value in schema.items()}
    if closed.get("type") == "object" and "properties" in closed:
        closed.setdefault("additionalProperties", False)
    if closed.pop("nullable", False):
        closed = {"anyOf": [closed, {"type": "null"}]}
    return closed


def misfits(published, path, response, method="post"):
    """What in `response`'s JSON its path's schema for that status does not allow, in words."""
    operation = published["paths"][path][method]
    status = str(response.status_code)
    assert status in operation["responses"], f"{path} answered {status}, which its schema does not list"
    schema = operation["responses"][status]["content"]["application/json"]["schema"]
    validator = Draft202012Validator(strict(schema, published["components"]["schemas"]))
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(response.json())
    ]


def fits(published, path, response, status, method="post"):
    assert response.status_code == status, response.content
    assert misfits(published, path, response, method) == []
    return response.json()


class Answered:
    """An answer as a test rewrites it."""

    def __init__(self, status_code, body):
        self.status_code, self.body = status_code, body

    def json(self):
        return self.body


def test_a_field_the_schema_does_not_name_or_a_missing_one_is_a_misfit(published, authed):
    body = fits(published, "/gallery/subjects", authed.post("/gallery/subjects", {}, format="json"), 200)
    assert body["subjects"] == []
    grown = Answered(200, {**body, "next": 2})
    assert misfits(published, "/gallery/subjects", grown) == [
        ": Additional properties are not allowed ('next' was unexpected)"
    ]
    shrunk = Answered(200, {key: value for key, value in body.items() if key != "total"})
    assert misfits(published, "/gallery/subjects", shrunk) == [": 'total' is a required property"]
    retyped = Answered(200, {**body, "page": "1"})
    assert misfits(published, "/gallery/subjects", retyped) == ["page: '1' is not of type 'integer'"]


def test_errors_fit_the_error_envelope(published, authed):
    fits(published, "/gallery/subjects", APIClient().post("/gallery/subjects", {}, format="json"), 401)
    fits(published, "/match", authed.post("/match", {"accuracy": 9}, format="json"), 400)


def test_match_answers_fit(published, authed, photo):
    body = fits(
        published,
        "/match",
        authed.post("/match", {"image": photo(ENROLL[0]).b64(), "reference": photo(GENUINE).b64()}, format="json"),
        200,
    )
    assert body["match"] is True and body["faces"]["image"][0]["faces"] == 1


def test_gallery_answers_fit(published, authed, photo):
    enrolled = fits(
        published,
        "/gallery/enroll",
        gallery_enroll(authed, "ada", [photo(name) for name in ENROLL], metadata={"team": "blue"}),
        201,
    )
    identified = fits(published, "/gallery/identify", gallery_identify(authed, photo(GENUINE), accuracy=1), 200)
    assert identified["faces"][0]["candidates"][0]["subject"] == "ada"
    listed = fits(published, "/gallery/subjects", authed.post("/gallery/subjects", {}, format="json"), 200)
    assert listed["subjects"][0]["metadata"] == {"team": "blue"}
    face = enrolled["added"][0]["id"]
    fits(published, "/gallery/forget", authed.post("/gallery/forget", {"face": face}, format="json"), 200)
    fits(published, "/gallery/forget", authed.post("/gallery/forget", {"subject": "ada"}, format="json"), 200)


def test_identity_token_answers_fit(published, authed, photo):
    images = {"image": [photo(name).b64() for name in ENROLL]}
    issued = fits(published, "/generate", authed.post("/generate", {**images, "subject": "ada"}, format="json"), 201)
    probe = {"token": issued["token"], "image": photo(GENUINE).b64()}
    checked = fits(published, "/authenticate", authed.post("/authenticate", probe, format="json"), 200)
    assert checked["authenticated"] is True
    rotated = fits(published, "/rotate", authed.post("/rotate", probe, format="json"), 200)
    assert rotated["replaces"] == issued["id"]
    fits(published, "/revoke", authed.post("/revoke", {"id": rotated["id"]}, format="json"), 200)
    fits(published, "/authenticate", authed.post("/authenticate", probe, format="json"), 410)


def test_client_token_answers_fit(published, api):
    issued = fits(published, "/generateToken", api.post("/generateToken", {"name": "mine"}, format="json"), 201)
    presenting = APIClient(HTTP_X_AUTH_TOKEN=issued["token"])
    described = fits(published, "/token", presenting.post("/token", {}, format="json"), 200)
    assert described["last_used_at"] is None
    rotated = fits(published, "/rotateToken", presenting.post("/rotateToken", {}, format="json"), 201)
    assert rotated["token"] != issued["token"]
    fits(published, "/token", presenting.post("/token", {}, format="json"), 410)


def test_verification_answers_fit(published, api):
    from credentials.models import Channel, Verification

    pair = {"email": f"{uuid.uuid4().hex[:12]}@example.test", "phone": "+14155550187"}
    fits(published, "/v2/new-credentials", api.post("/v2/new-credentials", pair, format="json"), 202)
    verification = Verification.start(**pair)
    codes = {"email_code": verification.code_for(Channel.EMAIL), "sms_code": verification.code_for(Channel.SMS)}
    confirmed = fits(
        published,
        "/v2/authenticate-credentials",
        api.post("/v2/authenticate-credentials", {**pair, **codes}, format="json"),
        200,
    )
    claim = {**pair, "verification_token": confirmed["verification_token"]}
    fits(published, "/v2/generateToken", api.post("/v2/generateToken", claim, format="json"), 201)
    fits(published, "/v2/generateToken", api.post("/v2/generateToken", claim, format="json"), 403)


def test_probe_answers_fit(published, api):
    fits(published, "/health", api.get("/health"), 200, method="get")
    ready = api.get("/ready")
    assert misfits(published, "/ready", ready, method="get") == []
