"""A Python client generated from /openapi.json with openapi-python-client, as a team adopting the
API would make one, calls the server with no change: a client token, /match, /generate,
/authenticate and /gallery/identify, photos sent as files, the token as Authorization: Bearer."""

import importlib
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from tests.live import database_url, gunicorn_server

GENERATOR = Path(sys.executable).parent / "openapi-python-client"
ENROLL = ("deepface-a_img1.jpg", "deepface-a_img2.jpg", "deepface-a_img4.jpg")
GENUINE = "deepface-a_img7.jpg"
IMPOSTOR = "deepface-b_img8.jpg"

pytestmark = [pytest.mark.faces, pytest.mark.subprocess, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def server(tmp_path):
    url = database_url(settings.DATABASES["default"])
    if url is None:
        pytest.skip("the live server runs on the PostgreSQL test database; set DATABASE_URL")
    with gunicorn_server(tmp_path / "gunicorn.log", DATABASE_URL=url, FACENITION_WARM_UP="1") as base:
        yield base


@pytest.fixture
def generated(server, tmp_path, monkeypatch):
    """The client package openapi-python-client makes from the running server's schema, imported."""
    schema = tmp_path / "openapi.json"
    schema.write_bytes(urllib.request.urlopen(f"{server}/openapi.json", timeout=30).read())
    out = tmp_path / "client"
    result = subprocess.run(
        [str(GENERATOR), "generate", "--path", str(schema), "--meta", "none", "--output-path", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Errors:   0" in result.stdout or "Error" not in result.stdout, result.stdout
    monkeypatch.syspath_prepend(str(tmp_path))
    return lambda module: importlib.import_module(f"client.{module}")


def files(photo, *names):
    from client.types import File

    return [File(payload=photo(name).path.open("rb"), file_name=name, mime_type="image/jpeg") for name in names]


def test_a_generated_client_works_as_generated(server, generated, photo):
    client_module = generated("client")
    generate_token = generated("api.client_tokens.generate_token")
    token_body = generated("models.generate_token_json_body").GenerateTokenJsonBody(name="generated client")
    issued = generate_token.sync(client=client_module.Client(base_url=server), body=token_body)
    assert issued.token.startswith("fnc_"), issued

    client = client_module.AuthenticatedClient(base_url=server, token=issued.token, timeout=120)
    match = generated("api.faces.match")
    match_body = generated("models.match_files_body").MatchFilesBody
    same = match.sync(client=client, body=match_body(image=files(photo, ENROLL[0]), reference=files(photo, GENUINE)))
    assert same.match is True, same
    other = match.sync(client=client, body=match_body(image=files(photo, ENROLL[0]), reference=files(photo, IMPOSTOR)))
    assert other.match is False, other

    made = generated("api.identity_tokens.generate").sync(
        client=client, body=generated("models.generate_files_body").GenerateFilesBody(image=files(photo, *ENROLL))
    )
    assert made.token.startswith("fit2_"), made
    authenticate_body = generated("models.authenticate_files_body").AuthenticateFilesBody
    checked = generated("api.identity_tokens.authenticate").sync(
        client=client, body=authenticate_body(token=made.token, image=files(photo, GENUINE))
    )
    assert checked.authenticated is True, checked

    enrolled = generated("api.galleries.gallery_enroll").sync(
        client=client,
        body=generated("models.gallery_enroll_files_body").GalleryEnrollFilesBody(
            subject="ada", image=files(photo, *ENROLL)
        ),
    )
    assert enrolled.faces == 3, enrolled
    identified = generated("api.galleries.gallery_identify").sync(
        client=client,
        body=generated("models.gallery_identify_files_body").GalleryIdentifyFilesBody(image=files(photo, GENUINE)),
    )
    assert [candidate.subject for candidate in identified.faces[0].candidates] == ["ada"], identified
