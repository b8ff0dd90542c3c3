"""The OpenAPI schema at /openapi.json, the docs at /docs, and schemathesis against a live server."""

import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests.live import database_url, gunicorn_server

# Kept here so that every run sends the same requests: schemathesis' seed and examples per operation.
SCHEMATHESIS_SEED = 1
SCHEMATHESIS_EXAMPLES = 10
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
)


@pytest.fixture
def schema(api):
    response = api.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def test_the_schema_describes_each_endpoint_once_with_a_plain_operation_id(schema):
    operations = {
        path: operation["operationId"] for path, item in schema["paths"].items() for operation in item.values()
    }
    assert operations == {
        "/health": "health",
        "/ready": "ready",
        "/generateToken": "generate_token",
        "/v2/generateToken": "generate_token_v2",
        "/token": "token",
        "/rotateToken": "rotate_token",
        "/v2/new-credentials": "new_credentials",
        "/v2/authenticate-credentials": "authenticate_credentials",
        **{f"/{name}": name for name in ("match", "generate", "authenticate", "revoke", "rotate")},
        **{f"/gallery/{name}": f"gallery_{name}" for name in ("enroll", "identify", "subjects", "forget")},
    }
    assert schema["servers"] == [{"url": "http://127.0.0.1:8000", "description": "make run"}]
    version = next(p for p in schema["paths"]["/match"]["post"]["parameters"] if p["name"] == "X-API-Version")
    assert version["in"] == "header" and version["schema"]["enum"] == ["1", "2"]


def test_photos_are_offered_as_multipart_first(schema):
    assert next(iter(schema["paths"]["/match"]["post"]["requestBody"]["content"])) == "multipart/form-data"


def test_image_endpoints_take_multipart_files_and_base64_json(schema):
    body = schema["paths"]["/match"]["post"]["requestBody"]["content"]
    assert body["multipart/form-data"]["schema"]["properties"]["image"]["items"]["format"] == "binary"
    assert body["application/json"]["schema"]["properties"]["reference"]["oneOf"][0]["type"] == "string"


def test_both_token_placements_and_the_error_envelope_are_described(schema):
    match = schema["paths"]["/match"]["post"]
    assert match["security"] == [{"ClientToken": []}, {"BearerToken": []}]
    bearer = schema["components"]["securitySchemes"]["BearerToken"]
    assert (bearer["type"], bearer["scheme"]) == ("http", "bearer")
    assert schema["components"]["securitySchemes"]["ClientToken"]["name"] == "X-Auth-Token"
    assert "auth_token" in match["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert match["responses"]["401"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert schema["components"]["schemas"]["Error"]["required"] == ["error", "ok"]


def test_v2_only_endpoints_are_described_under_v2_alone(schema):
    parameters = schema["paths"]["/v2/new-credentials"]["post"]["parameters"]
    assert [p["schema"]["enum"] for p in parameters if p["name"] == "X-API-Version"] == [["2"]]
    assert "/new-credentials" not in schema["paths"]


def test_the_docs_page_uses_no_outside_resource(client):
    response = client.get("/docs")
    assert response.status_code == 200
    page = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "https://" not in page and "http://" not in page
    assert client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js").status_code == 200


@pytest.mark.subprocess
def test_schemathesis_finds_no_server_error_and_no_answer_outside_the_schema(transactional_db, tmp_path):
    url = database_url(settings.DATABASES["default"])
    if url is None:
        pytest.skip("schemathesis runs against a server on the PostgreSQL test database; set DATABASE_URL")
    from credentials.services import client_token_issue

    _, token = client_token_issue(name="schemathesis")
    unlimited = "1000000/m"
    with gunicorn_server(
        tmp_path / "gunicorn.log",
        DATABASE_URL=url,
        FACENITION_RATE_LIMIT_PER_IP=unlimited,
        FACENITION_RATE_LIMIT_PER_TOKEN=unlimited,
        FACENITION_CODE_SEND_RATE=unlimited,
        FACENITION_CODE_SEND_RATE_PER_IP=unlimited,
        FACENITION_CODE_SEND_RATE_PER_RECIPIENT=unlimited,
        FACENITION_CODE_FAILURE_RATE_PER_IP=unlimited,
        FACENITION_CODE_FAILURE_RATE_PER_RECIPIENT=unlimited,
    ) as base:
        result = subprocess.run(
            [
                str(Path(sys.executable).parent / "st"),
                "run",
                f"{base}/openapi.json",
                "--header",
                f"X-Auth-Token: {token}",
                "--checks",
                ",".join(CHECKS),
                "--seed",
                str(SCHEMATHESIS_SEED),
                "--max-examples",
                str(SCHEMATHESIS_EXAMPLES),
                "--generation-database",
                "none",
                "--workers",
                "1",
                "--no-color",
            ],
            cwd=tmp_path,  # schemathesis keeps its own files in the working directory
            capture_output=True,
            text=True,
            timeout=600,
        )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report + (tmp_path / "gunicorn.log").read_text()[-5000:]
    assert "Tested: 17" in report  # every operation of the schema


def test_the_schema_is_valid_openapi(tmp_path):
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--file", str(tmp_path / "schema.yaml"))
    assert "openapi: 3.0.3" in (tmp_path / "schema.yaml").read_text()


def test_each_endpoint_lists_the_statuses_it_can_give(schema):
    def statuses(path):
        return sorted(schema["paths"][path]["post"]["responses"])

    assert statuses("/token") == ["200", "400", "404", "405", "408", "410", "429", "502"]
    assert statuses("/v2/authenticate-credentials") == [
        "200",
        "400",
        "401",
        "404",
        "405",
        "408",
        "409",
        "410",
        "429",
        "502",
    ]
    assert statuses("/generate") == ["201", "400", "401", "404", "405", "408", "429", "502", "503"]


def test_shared_shapes_have_names_of_their_own(schema):
    named = schema["components"]["schemas"]
    assert {"FaceBox", "PhotoFaces", "Candidate", "Error"} <= set(named)
    identify = schema["paths"]["/gallery/identify"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    face = identify["properties"]["faces"]["items"]
    assert face["properties"]["box"] == {"$ref": "#/components/schemas/FaceBox"}
    assert face["properties"]["candidates"]["items"] == {"$ref": "#/components/schemas/Candidate"}
    match = schema["paths"]["/match"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert match["properties"]["faces"]["properties"]["image"]["items"] == {"$ref": "#/components/schemas/PhotoFaces"}
    assert named["FaceBox"]["properties"]["width"]["example"] == 230


def test_fields_carry_real_examples_not_zeros(schema):
    new = schema["paths"]["/v2/new-credentials"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert new["properties"]["phone"]["example"] == "+14155552671"
    assert new["properties"]["email"]["example"] == "ada@example.com"
