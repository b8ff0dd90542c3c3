import re
from datetime import timedelta

import pytest
from django.utils import timezone

from enrollment.models import Enrollment
from tests.conftest import make_image_bytes

from .conftest import generate

pytestmark = [pytest.mark.django_db, pytest.mark.faces]


def test_generate_returns_an_identity_token_for_one_person(authed, people):
    response = generate(authed, people("deepface-a")[:3], subject="user-42")
    assert response.status_code == 201
    body = response.json()
    assert body["ok"] is True
    assert re.fullmatch(r"fit2_[A-Za-z0-9_-]{318}", body["token"])
    assert body["accuracy"] == 4
    assert body["subject"] == "user-42"
    enrollment = Enrollment.objects.get(pk=body["id"])
    assert enrollment.subject == "user-42"
    assert enrollment.expires_at.isoformat() == body["expires_at"]


def test_generate_keeps_the_accuracy_asked_for(authed, people):
    body = generate(authed, people("deepface-b")[:3], accuracy=7).json()
    assert body["accuracy"] == 7
    assert Enrollment.objects.get(pk=body["id"]).accuracy == 7


def test_generate_accepts_a_single_photo(authed, people):
    assert generate(authed, people("lin-manuel-miranda")).status_code == 201


def test_generate_refuses_a_photo_without_a_face(authed, people):
    import base64

    blank = base64.b64encode(make_image_bytes(size=(320, 240))).decode()
    response = authed.post("/generate", {"image": [people("deepface-a")[0].b64(), blank]}, format="json")
    assert response.status_code == 400
    assert response.json()["error"].startswith("image[1]: no face found")


def test_generate_refuses_a_photo_of_several_people(authed, people, photo):
    response = generate(authed, [people("obama")[0], photo("group_obama_and_biden.jpg")])
    assert response.status_code == 400
    assert response.json()["error"].startswith("image[1]: 3 faces found")


def test_generate_refuses_photos_of_two_different_people(authed, people):
    response = generate(authed, [people("deepface-a")[0], people("deepface-a")[1], people("deepface-b")[0]])
    assert response.status_code == 400
    assert response.json()["error"].startswith("image[2] does not show the same person as image[0], image[1]")
    assert not Enrollment.objects.exists()


def test_generate_honours_expires_in(authed, people):
    before = timezone.now()
    body = generate(authed, people("deepface-e")[:3], expires_in=3600).json()
    expires_at = Enrollment.objects.get(pk=body["id"]).expires_at
    assert before + timedelta(seconds=3598) <= expires_at <= timezone.now() + timedelta(seconds=3600)


def test_generate_refuses_expires_in_beyond_the_maximum(authed, people, settings):
    settings.FACENITION_IDENTITY_TOKEN_MAX_SECONDS = 86400
    response = generate(authed, people("deepface-c")[:3], expires_in=86401)
    assert response.status_code == 400
    assert response.json()["error"] == "expires_in: at most 86400 seconds is allowed."


@pytest.mark.parametrize("accuracy", [0, 9, "high", 4.5])
def test_generate_refuses_an_accuracy_outside_1_to_8(authed, people, accuracy):
    response = generate(authed, people("deepface-a")[:1], accuracy=accuracy)
    assert response.status_code == 400
    assert response.json()["error"].startswith("accuracy:")


def test_generate_needs_a_client_token(api, people):
    response = generate(api, people("deepface-a")[:1])
    assert response.status_code == 401
    assert response.json()["ok"] is False


def test_generate_needs_an_image(authed):
    response = authed.post("/generate", {}, format="json")
    assert response.status_code == 400
    assert response.json()["error"].startswith("image:")


def test_generate_is_reachable_under_every_prefix(authed, people):
    for prefix in ("/v1", "/v2"):
        response = authed.post(f"{prefix}/generate", {"image": [people("deepface-a")[0].b64()]}, format="json")
        assert response.status_code == 201
