import pytest
from django.conf import settings

from matching.galleries import gallery_subject_metadata
from matching.models import Face, Subject
from tests.conftest import make_image_bytes
from tests.matching.conftest import gallery_enroll

pytestmark = [pytest.mark.django_db, pytest.mark.faces, pytest.mark.usefixtures("pipeline_reads_each_photo_once")]


def test_enroll_creates_the_subject_and_answers_its_face_count(authed, photo):
    response = gallery_enroll(authed, "user-42", [photo("deepface-a_img1.jpg"), photo("deepface-a_img2.jpg")])
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["subject"] == "user-42" and body["faces"] == 2
    assert [set(face) for face in body["added"]] == [{"id", "box"}] * 2
    assert set(body["added"][0]["box"]) == {"left", "top", "width", "height"}


def test_enrolling_again_adds_faces_to_the_same_subject(authed, photo):
    gallery_enroll(authed, "user-42", [photo("deepface-a_img1.jpg")])
    body = gallery_enroll(authed, "user-42", [photo("deepface-a_img2.jpg"), photo("deepface-a_img4.jpg")]).json()
    assert body["faces"] == 3
    assert Subject.objects.filter(name="user-42").count() == 1


def test_each_face_records_how_it_was_read_and_no_image(authed, photo):
    gallery_enroll(authed, "user-42", [photo("deepface-a_img1.jpg")])
    face = Face.objects.get()
    assert (face.model_name, face.detector_name) == (settings.FACENITION_MODEL, "dlib")
    assert face.box_width > 0 and face.box_height > 0 and face.quality > 0
    assert {field.name for field in Face._meta.get_fields()} == {
        "id", "subject", "sealed_embedding", "model_name", "detector_name", "descriptor",
        "box_left", "box_top", "box_width", "box_height", "quality", "created_at",
    }  # fmt: skip


def test_metadata_is_kept_sealed_and_listed(authed, photo):
    from django.db import connection

    gallery_enroll(authed, "user-42", [photo("deepface-a_img1.jpg")], metadata={"team": "blue"})
    listed = authed.post("/gallery/subjects", {}, format="json").json()
    assert listed["subjects"][0]["metadata"] == {"team": "blue"}
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM matching_subject")
        raw = [bytes(value) if isinstance(value, memoryview) else str(value).encode() for value in cursor.fetchone()]
    assert not any(b"blue" in value for value in raw)


def test_metadata_may_come_as_text_in_a_multipart_form(authed, photo):
    from tests.conftest import upload

    data = {
        "subject": "user-42",
        "metadata": '{"team": "red"}',
        "image": [upload("a.jpg", photo("deepface-a_img1.jpg").read())],
    }
    response = authed.post("/gallery/enroll", data, format="multipart")
    assert response.status_code == 201, response.json()
    assert gallery_subject_metadata(subject=Subject.objects.get()) == {"team": "red"}


def test_a_photo_of_another_person_is_refused_by_name(authed, photo):
    response = gallery_enroll(
        authed, "user-42", [photo("deepface-a_img1.jpg"), photo("deepface-a_img2.jpg"), photo("obama_obama.jpg")]
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith("image[2] does not show the same person")
    assert not Subject.objects.exists()


def test_a_photo_that_does_not_fit_the_enrolled_faces_is_refused_by_name(authed, photo):
    gallery_enroll(authed, "user-42", [photo("deepface-a_img1.jpg"), photo("deepface-a_img2.jpg")])
    response = gallery_enroll(authed, "user-42", [photo("deepface-b_img8.jpg")])
    assert response.status_code == 400
    assert response.json()["error"] == (
        "image[0] does not show the same person as the subject's enrolled faces; send photos of this subject only."
    )
    assert Face.objects.count() == 2


def test_a_photo_with_two_faces_is_refused_by_name(authed, photo):
    response = gallery_enroll(authed, "user-42", [photo("deepface-a_img1.jpg"), photo("group_obama_and_biden.jpg")])
    assert response.status_code == 400
    assert response.json()["error"].startswith("image[1]:")
    assert "faces found" in response.json()["error"]


def test_a_photo_without_a_face_is_refused_by_name(authed):
    blank = make_image_bytes("JPEG", size=(640, 480), color=(90, 90, 90))
    import base64

    response = authed.post(
        "/gallery/enroll", {"subject": "x", "image": [base64.b64encode(blank).decode()]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith("image[0]: no face found")


@pytest.mark.parametrize(
    "fields, error",
    [
        ({}, "subject:"),
        ({"subject": ""}, "subject:"),
        ({"subject": "x" * 201}, "subject:"),
        ({"subject": "x", "metadata": "[1, 2]"}, "metadata:"),
        ({"subject": "x", "metadata": "not json"}, "metadata:"),
    ],
)
def test_bad_fields_are_refused_by_name(authed, photo, fields, error):
    response = authed.post("/gallery/enroll", {"image": photo("deepface-a_img1.jpg").b64(), **fields}, format="json")
    assert response.status_code == 400
    assert response.json()["error"].startswith(error)


def test_more_than_ten_photos_are_refused(authed, photo):
    response = gallery_enroll(authed, "user-42", [photo("deepface-a_img1.jpg")] * 11)
    assert response.status_code == 400
    assert response.json()["error"].startswith("image: 11 images sent")


def test_no_photo_is_refused(authed):
    response = authed.post("/gallery/enroll", {"subject": "user-42"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"].startswith("image:")


def test_the_endpoints_answer_with_a_version_prefix_too(authed, photo):
    response = authed.post(
        "/v2/gallery/enroll", {"subject": "user-42", "image": photo("deepface-a_img1.jpg").b64()}, format="json"
    )
    assert response.status_code == 201
    assert authed.post("/v1/gallery/subjects", {}, format="json").json()["total"] == 1


# The text of `metadata`, and how the refusal begins: as a form field, and within a JSON body.
HOSTILE_METADATA = {
    "nested 40 deep": ("[" * 40 + "]" * 40, "metadata: " + "[0]" * 32 + ": nested more", "metadata" + "[0]" * 31 + ":"),
    "nested 1,000 deep": ("[" * 1000 + "]" * 1000, "metadata: nested more than 32", "nested more than 32"),
    "NaN": ('{"a": NaN}', "metadata: a: numbers must be finite", "metadata.a: numbers must be finite"),
    "Infinity": ('{"a": [1, -Infinity]}', "metadata: a[1]: numbers must", "metadata.a[1]: numbers must"),
    "an overflowing number": ('{"a": {"b": 1e400}}', "metadata: a.b: numbers must", "metadata.a.b: numbers must"),
    "NUL": ('{"a": "x\\u0000y"}', "metadata: a: text may not hold a NUL", "metadata.a: text may not hold a NUL"),
    "NUL in a key": ('{"x\\u0000": 1}', "metadata: a key may not hold a NUL", "metadata: a key may not hold a NUL"),
    "a lone surrogate": ('{"a": ["\\ud800"]}', "metadata: a[0]: text may not hold a lone", "metadata.a[0]: text may"),
    "a lone surrogate in a key": ('{"\\udc00": 1}', "metadata: a key may not hold a lone", "metadata: a key may"),
}


@pytest.mark.parametrize("case", HOSTILE_METADATA)
def test_hostile_metadata_in_a_form_field_is_refused_by_name(authed, case):
    from tests.conftest import upload

    text, error, _ = HOSTILE_METADATA[case]
    data = {"subject": "user-42", "metadata": text, "image": [upload("a.jpg", make_image_bytes())]}
    response = authed.post("/gallery/enroll", data, format="multipart")
    assert response.status_code == 400, response.json()
    assert response.json()["error"].startswith(error)
    assert not Subject.objects.exists()


@pytest.mark.parametrize("case", HOSTILE_METADATA)
def test_hostile_metadata_in_a_json_body_is_refused_by_name(authed, case):
    text, _, error = HOSTILE_METADATA[case]
    body = '{"subject": "user-42", "image": "aGVsbG8=", "metadata": ' + text + "}"
    response = authed.post("/gallery/enroll", body, content_type="application/json")
    assert response.status_code == 400, response.json()
    assert response.json()["error"].startswith("The request body could not be read: " + error)


def test_a_lone_surrogate_in_the_subject_is_refused_by_name(authed):
    body = '{"subject": "user-\\ud800", "image": "aGVsbG8="}'
    response = authed.post("/gallery/enroll", body, content_type="application/json")
    assert response.status_code == 400, response.json()
    assert response.json()["error"].startswith("The request body could not be read: subject: text may not hold")
