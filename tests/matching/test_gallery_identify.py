"""/gallery/identify on the shared faces: 2 photos of each of 10 people enrolled, their other photos
identified, 5 people never enrolled."""

import pytest

from matching.accuracy import DEFAULT_ACCURACY, MAX_ACCURACY, largest_gallery
from matching.galleries import gallery_nearest
from matching.models import Gallery
from matching.pipeline import decode_image
from matching.reading import face_pipeline
from tests.matching.conftest import gallery_identify, synthetic_subjects

pytestmark = [pytest.mark.django_db, pytest.mark.faces]


def answer(response):
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["ok"] is True
    return body


def test_enrolled_peoples_other_photos_find_them_first(authed, client_row, enrolled_gallery):
    # Rank-1, closed set: the nearest subject of the gallery, whatever the level, is the person.
    probes = [(identity, photo) for identity, photos in enrolled_gallery.items() for photo in photos]
    assert len(probes) >= 20
    pipeline = face_pipeline()
    embeddings = [
        pipeline.analyse(decode_image(photo.file, photo.read()).pixels).largest.embedding for _, photo in probes
    ]
    _, nearest = gallery_nearest(gallery=Gallery.objects.get(client=client_row), embeddings=embeddings, limit=1)
    wrong = [
        photo.file for (identity, photo), found in zip(probes, nearest, strict=True) if found[0].subject != identity
    ]
    assert len(wrong) <= 0.05 * len(probes), wrong


def test_at_the_most_tolerant_level_the_first_candidate_is_the_person(authed, enrolled_gallery):
    # Level 1 scored 1:N over 10 subjects: its 1-in-1,000 target holds for the whole gallery, so a
    # few genuine photos get no candidate; none gets someone else.
    probes = [(identity, photo) for identity, photos in enrolled_gallery.items() for photo in photos]
    first = {}
    for identity, photo in probes:
        candidates = answer(gallery_identify(authed, photo, accuracy=1))["faces"][0]["candidates"]
        first[photo.file] = (identity, candidates[0]["subject"] if candidates else None)
    assert [file for file, (identity, seen) in first.items() if seen not in (identity, None)] == []
    found = sum(seen is not None for _, seen in first.values())
    assert found >= 0.9 * len(probes), first


def test_people_never_enrolled_have_no_candidate_at_the_default_level(authed, enrolled_gallery, gallery_people):
    _, unknown = gallery_people
    photos = [photo for photos in unknown.values() for photo in photos]
    assert len(photos) >= 5
    found = {}
    for photo in photos:
        body = answer(gallery_identify(authed, photo, limit=3))
        assert body["accuracy"] == DEFAULT_ACCURACY
        found[photo.file] = body["faces"][0]["candidates"]
    assert all(candidates == [] for candidates in found.values()), found


def test_every_face_of_a_group_photo_is_answered_largest_first(authed, enrolled_gallery, photo):
    body = answer(gallery_identify(authed, photo("group_obama_and_biden.jpg"), accuracy=1))
    faces = body["faces"]
    assert len(faces) >= 2
    areas = [face["box"]["width"] * face["box"]["height"] for face in faces]
    assert areas == sorted(areas, reverse=True)
    named = {candidate["subject"] for face in faces for candidate in face["candidates"]}
    assert named <= {"obama", "biden"} and named, body


def test_candidates_come_best_first_up_to_the_limit(authed, enrolled_gallery):
    probe = enrolled_gallery["deepface-a"][0]
    body = answer(gallery_identify(authed, probe, accuracy=1, limit=5))
    candidates = body["faces"][0]["candidates"]
    assert 1 <= len(candidates) <= 5
    assert candidates[0]["subject"] == "deepface-a"
    levels = [candidate["max_accuracy"] for candidate in candidates]
    assert levels == sorted(levels, reverse=True)
    assert all(1 <= level <= MAX_ACCURACY for level in levels)
    assert "distance" not in str(body)


def test_a_level_the_gallery_is_too_large_for_is_refused_with_the_reason(authed, client_row, photo):
    synthetic_subjects(client_row, largest_gallery(DEFAULT_ACCURACY) + 1)
    response = gallery_identify(authed, photo("deepface-a_img1.jpg"))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error.startswith("accuracy: the gallery holds")
    assert f"at most {largest_gallery(DEFAULT_ACCURACY)}" in error
    answer(gallery_identify(authed, photo("deepface-a_img1.jpg"), accuracy=1))


def test_an_empty_gallery_answers_every_face_without_candidates(authed, photo, pipeline_reads_each_photo_once):
    body = answer(gallery_identify(authed, photo("deepface-a_img1.jpg")))
    assert body["subjects"] == 0
    assert body["faces"][0]["candidates"] == []


def test_another_client_sees_nothing_of_the_gallery(enrolled_gallery, other_client):
    probe = enrolled_gallery["deepface-a"][0]
    body = answer(gallery_identify(other_client, probe, accuracy=1))
    assert body["subjects"] == 0 and body["faces"][0]["candidates"] == []
    listed = other_client.post("/gallery/subjects", {}, format="json").json()
    assert listed["total"] == 0 and listed["subjects"] == []
    response = other_client.post("/gallery/forget", {"subject": "deepface-a"}, format="json")
    assert response.status_code == 404


@pytest.mark.parametrize(
    "fields, error",
    [
        ({"accuracy": 9}, "accuracy:"),
        ({"limit": 0}, "limit:"),
        ({"limit": 11}, "limit:"),
        ({"limit": "two"}, "limit:"),
    ],
)
def test_bad_fields_are_refused_by_name(authed, photo, fields, error):
    response = gallery_identify(authed, photo("deepface-a_img1.jpg"), **fields)
    assert response.status_code == 400
    assert response.json()["error"].startswith(error)


def test_one_photo_is_identified_at_a_time(authed, photo, pipeline_reads_each_photo_once):
    images = [photo("deepface-a_img1.jpg").b64(), photo("deepface-a_img2.jpg").b64()]
    response = authed.post("/gallery/identify", {"image": images}, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "image: send one photo to identify (2 were sent)."


def test_identify_needs_a_client_token(api, photo):
    response = gallery_identify(api, photo("deepface-a_img1.jpg"))
    assert response.status_code == 401


def test_the_answer_says_how_the_gallerys_size_shaped_the_threshold(authed, enrolled_gallery, gallery_people):
    _, unknown = gallery_people
    stranger = next(iter(unknown.values()))[0]

    body = answer(gallery_identify(authed, stranger))

    assert body["subjects"] == 10
    assert body["scoring"].startswith(
        "Level 4 holds its target of 1 in 10,000 false matches for the whole gallery of 10 subjects, so each "
        "subject must match as closely as 1 in 100,000: /match's level 7."
    )


@pytest.mark.parametrize(
    "subjects, said",
    [(1, "as /match's level 4 does"), (3, "between /match's levels 5 and 6"), (100, "/match's level 8")],
)
def test_the_scoring_names_the_match_level_it_equals_or_falls_between(subjects, said):
    from matching.accuracy import identification_scoring

    assert said in identification_scoring(4, subjects)
