import pytest

from enrollment.models import Enrollment

from .conftest import authenticate, images

pytestmark = [pytest.mark.django_db, pytest.mark.faces]


def rotate(client, token, photos, **fields):
    return client.post("/rotate", {"token": token, "image": images(*photos), **fields}, format="json")


def test_rotate_issues_a_fresh_token_and_revokes_the_old_one(authed, enroll, people):
    old = enroll("deepface-a", subject="user-7")
    response = rotate(authed, old["token"], people("deepface-a")[3:6])
    assert response.status_code == 200
    new = response.json()
    assert new["id"] != old["id"] and new["token"] != old["token"]
    assert (new["replaces"], new["subject"], new["accuracy"]) == (old["id"], "user-7", 4)
    assert authenticate(authed, old["token"], people("deepface-a")[6:7]).status_code == 410
    assert authenticate(authed, new["token"], people("deepface-a")[6:7]).json()["authenticated"] is True


def test_rotate_refuses_another_face_and_keeps_the_old_token(authed, enroll, people):
    old = enroll("deepface-a")
    response = rotate(authed, old["token"], people("deepface-b")[:1])
    assert response.status_code == 403
    assert "does not match" in response.json()["error"]
    assert Enrollment.objects.count() == 1
    enrollment = Enrollment.objects.get()
    assert (enrollment.revoked_at, enrollment.consecutive_failures) == (None, 1)
    assert authenticate(authed, old["token"], people("deepface-a")[6:7]).json()["authenticated"] is True


def test_rotate_refuses_a_token_of_another_client(other_client, enroll, people):
    old = enroll("deepface-a")
    assert rotate(other_client, old["token"], people("deepface-a")[3:6]).status_code == 403
    assert Enrollment.objects.get(pk=old["id"]).revoked_at is None


def test_rotate_refuses_a_revoked_token(authed, enroll, people):
    old = enroll("deepface-a")
    authed.post("/revoke", {"id": old["id"]}, format="json")
    assert rotate(authed, old["token"], people("deepface-a")[3:6]).status_code == 410


def test_rotate_refuses_another_accuracy(authed, enroll, people):
    old = enroll("deepface-a", accuracy=2)
    response = rotate(authed, old["token"], people("deepface-a")[3:6], accuracy=3)
    assert response.status_code == 400
    assert "generated with accuracy 2" in response.json()["error"]


def test_rotate_is_refused_during_a_cool_down(authed, enroll, people):
    old = enroll("deepface-a")
    for _ in range(5):
        rotate(authed, old["token"], people("deepface-b")[:1])
    assert rotate(authed, old["token"], people("deepface-a")[3:6]).status_code == 429


def test_rotate_refuses_a_mean_face_of_other_people(authed, enroll, people):
    old = enroll("deepface-a", accuracy=1)
    others = ("deepface-b", "deepface-c", "deepface-d", "deepface-e", "obama", "biden")
    response = rotate(authed, old["token"], [people(person)[0] for person in others], accuracy=1)
    assert response.status_code == 400
    assert "does not show the same person as" in response.json()["error"]
    assert Enrollment.objects.count() == 1
    enrollment = Enrollment.objects.get()
    assert (enrollment.revoked_at, enrollment.consecutive_failures) == (None, 1)


def test_rotate_names_the_live_photo_of_someone_else(authed, enroll, people):
    old = enroll("deepface-a")
    live = [people("deepface-a")[3], people("deepface-a")[4], people("deepface-c")[0]]
    response = rotate(authed, old["token"], live)
    assert response.status_code == 400
    assert response.json()["error"].startswith("image[2] does not show the same person as image[0], image[1]")
    assert Enrollment.objects.get().revoked_at is None
