import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from enrollment.models import Enrollment
from matching.accuracy import TARGET_FALSE_MATCH_RATES
from matching.pipeline import decode_image
from matching.reading import face_pipeline

from .conftest import authenticate, generate

pytestmark = [pytest.mark.django_db, pytest.mark.faces]

# A photo of deepface-a kept out of the enrollment (the first three photos), and one of someone else.
GENUINE = "deepface-a_img7.jpg"
IMPOSTOR = "deepface-b_img8.jpg"


def later(monkeypatch, seconds):
    moved = timezone.now() + timedelta(seconds=seconds)
    monkeypatch.setattr(timezone, "now", lambda: moved)


def test_authenticate_accepts_the_same_person_at_the_default_level(authed, enroll, photo):
    token = enroll("deepface-a")
    response = authenticate(authed, token["token"], [photo(GENUINE)])
    assert response.status_code == 200
    assert response.json() == {"ok": True, "authenticated": True, "id": token["id"]}


def test_authenticate_accepts_several_live_photos(authed, enroll, people):
    token = enroll("deepface-a")
    assert authenticate(authed, token["token"], people("deepface-a")[5:8]).json()["authenticated"] is True


@pytest.mark.parametrize("accuracy", sorted(TARGET_FALSE_MATCH_RATES))
def test_authenticate_rejects_other_person_at_every_level(authed, enroll, people, accuracy):
    token = enroll("deepface-a", accuracy=accuracy)
    for other in ("deepface-b", "deepface-c", "obama", "biden"):
        response = authenticate(authed, token["token"], people(other)[:1], accuracy=accuracy)
        assert response.json() == {"ok": True, "authenticated": False, "id": token["id"]}, other
        Enrollment.objects.filter(pk=token["id"]).update(consecutive_failures=0)


def test_authenticate_counts_only_the_largest_face_of_a_group_photo(authed, enroll, photo):
    # Biden's is the largest face in this photo; Obama's, also in it, would unlock the token if
    # the faces were tried one by one.
    token = enroll("obama", accuracy=1)
    response = authenticate(authed, token["token"], [photo("group_obama_and_biden.jpg")], accuracy=1)
    assert response.json()["authenticated"] is False


def test_authenticate_accepts_a_group_photo_whose_largest_face_is_the_person(authed, enroll, photo):
    token = enroll("kit-harington", accuracy=1)
    response = authenticate(authed, token["token"], [photo("group_kit_with_rose.jpg")], accuracy=1)
    assert response.json()["authenticated"] is True


def test_authenticate_refuses_another_accuracy_and_says_which(authed, enroll, photo):
    token = enroll("deepface-a", accuracy=6)
    response = authenticate(authed, token["token"], [photo(GENUINE)], accuracy=4)
    assert response.status_code == 400
    assert "generated with accuracy 6" in response.json()["error"]


@pytest.mark.parametrize("position", [10, 60, 200, -5])
def test_authenticate_refuses_a_tampered_token(authed, enroll, photo, position):
    token = enroll("deepface-a")["token"]
    index = position % len(token)
    tampered = token[:index] + ("A" if token[index] != "A" else "B") + token[index + 1 :]
    response = authenticate(authed, tampered, [photo(GENUINE)])
    assert response.status_code == 400
    assert response.json()["error"].startswith("token: not a valid identity token")


@pytest.mark.parametrize("token", ["hello", "fit1_", "fit1_!!!!", "fit2_AAAA", "fnc_abc_def"])
def test_authenticate_refuses_a_malformed_token(authed, photo, token):
    response = authenticate(authed, token, [photo(GENUINE)])
    assert response.status_code == 400
    assert response.json()["ok"] is False


def test_authenticate_refuses_a_token_of_another_client(other_client, enroll, photo):
    token = enroll("deepface-a")
    response = authenticate(other_client, token["token"], [photo(GENUINE)])
    assert response.status_code == 403
    assert response.json()["error"] == "This identity token was issued to another client."


def test_authenticate_answers_410_for_a_revoked_token(authed, enroll, photo):
    token = enroll("deepface-a")
    authed.post("/revoke", {"token": token["token"]}, format="json")
    response = authenticate(authed, token["token"], [photo(GENUINE)])
    assert response.status_code == 410
    assert "revoked" in response.json()["error"]


def test_authenticate_answers_410_for_an_expired_token(authed, enroll, photo, monkeypatch):
    token = enroll("deepface-a", expires_in=60)
    assert authenticate(authed, token["token"], [photo(GENUINE)]).status_code == 200
    later(monkeypatch, 61)
    response = authenticate(authed, token["token"], [photo(GENUINE)])
    assert response.status_code == 410
    assert "expired" in response.json()["error"]


def test_authenticate_needs_a_token_and_an_image(authed, enroll, photo):
    assert (
        authed.post("/authenticate", {"image": [photo(GENUINE).b64()]}, format="json")
        .json()["error"]
        .startswith("token:")
    )
    token = enroll("deepface-a")["token"]
    assert authed.post("/authenticate", {"token": token}, format="json").json()["error"].startswith("image:")


def test_authenticate_cools_down_after_five_failures(authed, enroll, photo, monkeypatch):
    token = enroll("deepface-a")["token"]
    for _ in range(5):
        assert authenticate(authed, token, [photo(IMPOSTOR)]).json()["authenticated"] is False
    response = authenticate(authed, token, [photo(GENUINE)])
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 30
    later(monkeypatch, 31)
    assert authenticate(authed, token, [photo(GENUINE)]).json()["authenticated"] is True


def test_authenticate_success_resets_the_run_of_failures(authed, enroll, photo):
    token = enroll("deepface-a")
    for _ in range(4):
        authenticate(authed, token["token"], [photo(IMPOSTOR)])
    assert authenticate(authed, token["token"], [photo(GENUINE)]).json()["authenticated"] is True
    for _ in range(4):
        assert authenticate(authed, token["token"], [photo(IMPOSTOR)]).status_code == 200
    enrollment = Enrollment.objects.get(pk=token["id"])
    assert (enrollment.consecutive_failures, enrollment.total_failures) == (4, 8)


def test_authenticate_locks_the_token_after_fifty_failures(authed, enroll, photo, settings):
    settings.FACENITION_AUTH_COOLDOWN_SECONDS = 0
    token = enroll("deepface-a")
    for _ in range(50):
        assert authenticate(authed, token["token"], [photo(IMPOSTOR)]).status_code == 200
    response = authenticate(authed, token["token"], [photo(GENUINE)])
    assert response.status_code == 403
    assert "locked" in response.json()["error"]
    assert Enrollment.objects.get(pk=token["id"]).locked_at is not None


@pytest.mark.django_db(transaction=True)
def test_authenticate_counts_concurrent_failures_exactly(client_token, people, photo):
    client = APIClient()
    client.credentials(HTTP_X_AUTH_TOKEN=client_token)
    token = generate(client, people("deepface-a")[:3]).json()["token"]
    impostor = photo(IMPOSTOR)
    face_pipeline().analyse(decode_image("impostor", impostor.read()).pixels)  # read once, before the race
    attempts = 12
    start = threading.Barrier(attempts)
    statuses = []

    def attempt():
        caller = APIClient()
        caller.credentials(HTTP_X_AUTH_TOKEN=client_token)
        try:
            start.wait()
            statuses.append(authenticate(caller, token, [impostor]).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [200] * 5 + [429] * (attempts - 5)
    enrollment = Enrollment.objects.get()
    assert (enrollment.consecutive_failures, enrollment.total_failures) == (5, 5)


def strangers(people, identity, count=10):
    """One photo each of `count` people other than `identity`: their mean is a face of no one."""
    others = [
        person
        for person in (
            "deepface-b",
            "deepface-c",
            "deepface-d",
            "deepface-e",
            "deepface-f",
            "deepface-g",
            "deepface-h",
            "deepface-i",
            "obama",
            "biden",
            "alex-lacamoire",
            "kit-harington",
        )
        if person != identity
    ]
    return [people(person)[0] for person in others[:count]]


@pytest.mark.parametrize("accuracy", sorted(TARGET_FALSE_MATCH_RATES))
def test_authenticate_refuses_a_mean_face_of_other_people_at_every_level(authed, enroll, people, accuracy):
    token = enroll("deepface-a", accuracy=accuracy)
    response = authenticate(authed, token["token"], strangers(people, "deepface-a"), accuracy=accuracy)
    assert response.status_code == 400
    error = response.json()["error"]
    assert "does not show the same person as" in error and "counts as a failed one" in error
    assert Enrollment.objects.get(pk=token["id"]).consecutive_failures == 1


def test_authenticate_names_the_live_photo_of_someone_else(authed, enroll, people):
    token = enroll("deepface-a")
    live = [people("deepface-a")[5], people("deepface-b")[0], people("deepface-a")[6]]
    response = authenticate(authed, token["token"], live)
    assert response.status_code == 400
    assert response.json()["error"].startswith("image[1] does not show the same person as image[0], image[2]")
    enrollment = Enrollment.objects.get(pk=token["id"])
    assert (enrollment.consecutive_failures, enrollment.total_failures) == (1, 1)


def test_authenticate_cools_down_after_five_mixed_sets_of_photos(authed, enroll, people):
    token = enroll("deepface-a")["token"]
    mixed = [people("deepface-a")[5], people("deepface-b")[0]]
    for _ in range(5):
        assert authenticate(authed, token, mixed).status_code == 400
    assert authenticate(authed, token, people("deepface-a")[5:7]).status_code == 429
