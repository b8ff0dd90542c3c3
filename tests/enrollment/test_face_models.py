"""Identity tokens remember the face model they were made with, and keep being read by it after the
server's FACENITION_MODEL changes."""

from io import StringIO

import pytest
from django.core.management import call_command

from credentials.services import client_token_find
from enrollment.models import Enrollment
from matching.galleries import owner_of
from tests.matching.conftest import synthetic_subjects

from .conftest import authenticate, images

pytestmark = [pytest.mark.django_db, pytest.mark.faces]


def test_a_token_records_the_face_model_it_was_made_with(enroll, settings):
    settings.FACENITION_MODEL = "Dlib"
    body = enroll("deepface-a")
    assert Enrollment.objects.get(pk=body["id"]).model_name == "Dlib"


def test_a_dlib_token_still_authenticates_when_the_server_reads_new_faces_with_sface(
    authed, enroll, people, settings, pipeline_reads_each_photo_once
):
    settings.FACENITION_MODEL = "Dlib"
    token = enroll("deepface-a")["token"]
    settings.FACENITION_MODEL = "SFace"
    genuine = authenticate(authed, token, people("deepface-a")[4:5])
    impostor = authenticate(authed, token, people("deepface-b")[:1])
    assert genuine.status_code == 200 and genuine.json()["authenticated"] is True, genuine.json()
    assert impostor.json()["authenticated"] is False, impostor.json()


def test_count_face_models_says_what_is_still_on_each_model(
    authed, client_token, enroll, settings, pipeline_reads_each_photo_once
):
    settings.FACENITION_MODEL = "Dlib"
    enroll("deepface-a")
    Enrollment.objects.get(pk=enroll("deepface-b")["id"]).revoke()
    synthetic_subjects(owner_of(client_token_find(raw=client_token)), 2)
    settings.FACENITION_MODEL = "SFace"
    sface = enroll("deepface-a")
    assert Enrollment.objects.get(pk=sface["id"]).model_name == "SFace"
    output = StringIO()
    call_command("count_face_models", stdout=output)
    assert output.getvalue().splitlines() == [
        "SFace (FACENITION_MODEL): 1 identity token(s), 0 gallery face(s) in 0 gallery(ies)",
        "Dlib: 1 identity token(s), 2 gallery face(s) in 1 gallery(ies)",
    ]


def test_rotating_a_dlib_token_moves_it_to_the_servers_model(authed, enroll, people, settings):
    settings.FACENITION_MODEL = "Dlib"
    old = enroll("deepface-a")
    settings.FACENITION_MODEL = "SFace"
    response = authed.post(
        "/rotate", {"token": old["token"], "image": images(*people("deepface-a")[3:6])}, format="json"
    )
    assert response.status_code == 200, response.json()
    new = response.json()
    assert Enrollment.objects.get(pk=new["id"]).model_name == "SFace"
    assert authenticate(authed, new["token"], people("deepface-a")[6:7]).json()["authenticated"] is True
    assert authenticate(authed, new["token"], people("deepface-b")[:1]).json()["authenticated"] is False
