import uuid

import pytest

from enrollment.models import Enrollment

from .conftest import authenticate

pytestmark = [pytest.mark.django_db, pytest.mark.faces]


def test_revoke_by_token_makes_later_use_answer_410(authed, enroll, people):
    token = enroll("deepface-a")
    response = authed.post("/revoke", {"token": token["token"]}, format="json")
    assert response.status_code == 200
    assert response.json()["id"] == token["id"]
    assert Enrollment.objects.get(pk=token["id"]).revoked_at is not None
    assert authenticate(authed, token["token"], people("deepface-a")[6:7]).status_code == 410


def test_revoke_by_id(authed, enroll, people):
    token = enroll("deepface-a")
    assert authed.post("/revoke", {"id": token["id"]}, format="json").status_code == 200
    assert authenticate(authed, token["token"], people("deepface-a")[6:7]).status_code == 410


def test_revoke_twice_keeps_the_first_time(authed, enroll):
    token = enroll("deepface-a")
    first = authed.post("/revoke", {"id": token["id"]}, format="json").json()
    second = authed.post("/revoke", {"token": token["token"]}, format="json").json()
    assert second["revoked_at"] == first["revoked_at"]


def test_revoke_refuses_an_enrollment_of_another_client(other_client, enroll):
    token = enroll("deepface-a")
    # An id does not tell another client whether the enrollment exists; the token itself proves it does.
    assert other_client.post("/revoke", {"id": token["id"]}, format="json").status_code == 404
    assert other_client.post("/revoke", {"token": token["token"]}, format="json").status_code == 403
    assert Enrollment.objects.get(pk=token["id"]).revoked_at is None


def test_revoke_answers_404_for_an_unknown_id(authed):
    response = authed.post("/revoke", {"id": str(uuid.uuid4())}, format="json")
    assert response.status_code == 404
    assert response.json() == {"ok": False, "error": "No enrollment with this id."}


def test_revoke_refuses_a_tampered_token(authed, enroll):
    token = enroll("deepface-a")["token"]
    response = authed.post("/revoke", {"token": token[:-3] + "AAA"}, format="json")
    assert response.status_code == 400


def test_revoke_needs_a_token_or_an_id(authed):
    response = authed.post("/revoke", {}, format="json")
    assert response.status_code == 400
    assert "token" in response.json()["error"]


def test_revoke_refuses_an_id_that_is_not_a_uuid(authed):
    response = authed.post("/revoke", {"id": "42"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"].startswith("id:")
