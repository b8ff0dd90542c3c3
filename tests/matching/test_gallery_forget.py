import uuid

import pytest
from django.db import connection

from matching.models import Face, Subject
from tests.matching.conftest import gallery_enroll, gallery_identify

pytestmark = [pytest.mark.django_db, pytest.mark.faces]


def forget(client, **fields):
    return client.post("/gallery/forget", fields, format="json")


def every_row():
    """Every row of every table, as text."""
    rows = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')
            rows.extend((table, repr(row)) for row in cursor.fetchall())
    return rows


def test_a_forgotten_subject_is_never_a_candidate_again_and_leaves_no_row(authed, enrolled_gallery):
    face_ids = [str(pk) for pk in Face.objects.filter(subject__name="deepface-a").values_list("id", flat=True)]
    probe = enrolled_gallery["deepface-a"][0]
    assert gallery_identify(authed, probe, accuracy=1).json()["faces"][0]["candidates"][0]["subject"] == "deepface-a"

    response = forget(authed, subject="deepface-a")

    assert response.status_code == 200, response.json()
    assert response.json() == {"ok": True, "subject": "deepface-a", "deleted": {"subjects": 1, "faces": 2}}
    body = gallery_identify(authed, probe, accuracy=1, limit=10).json()
    assert "deepface-a" not in [c["subject"] for c in body["faces"][0]["candidates"]]
    assert body["subjects"] == 9
    left = [(table, row) for table, row in every_row() if "deepface-a" in row or any(pk in row for pk in face_ids)]
    assert left == []


def test_one_face_is_forgotten_by_its_id(authed, photo, pipeline_reads_each_photo_once):
    added = gallery_enroll(authed, "user-42", [photo("deepface-a_img1.jpg"), photo("deepface-a_img2.jpg")]).json()
    first = added["added"][0]["id"]

    response = forget(authed, face=first)

    assert response.json() == {"ok": True, "subject": "user-42", "deleted": {"subjects": 0, "faces": 1}}
    assert [str(pk) for pk in Face.objects.values_list("id", flat=True)] == [added["added"][1]["id"]]
    listed = authed.post("/gallery/subjects", {}, format="json").json()["subjects"]
    assert listed[0]["faces"] == 1


def test_forgetting_a_subjects_last_face_forgets_the_subject(authed, photo, pipeline_reads_each_photo_once):
    added = gallery_enroll(authed, "user-42", [photo("deepface-a_img1.jpg")]).json()
    response = forget(authed, face=added["added"][0]["id"])
    assert response.json()["deleted"] == {"subjects": 1, "faces": 1}
    assert not Subject.objects.exists()


def test_an_unknown_subject_or_face_is_404(authed, photo, pipeline_reads_each_photo_once):
    assert forget(authed, subject="nobody").status_code == 404
    gallery_enroll(authed, "user-42", [photo("deepface-a_img1.jpg")])
    response = forget(authed, subject="nobody")
    assert response.status_code == 404
    assert response.json()["error"] == "No subject 'nobody' in your gallery."
    assert forget(authed, face=str(uuid.uuid4())).status_code == 404


def test_another_clients_subject_and_face_are_404_and_stay(authed, other_client, photo, pipeline_reads_each_photo_once):
    added = gallery_enroll(authed, "user-42", [photo("deepface-a_img1.jpg")]).json()
    assert forget(other_client, subject="user-42").status_code == 404
    assert forget(other_client, face=added["added"][0]["id"]).status_code == 404
    assert Face.objects.count() == 1


@pytest.mark.parametrize("fields, error", [({}, "Send the `subject`"), ({"face": "not-a-uuid"}, "face:")])
def test_forget_needs_a_subject_or_a_face_id(authed, fields, error):
    response = forget(authed, **fields)
    assert response.status_code == 400
    assert response.json()["error"].startswith(error)
