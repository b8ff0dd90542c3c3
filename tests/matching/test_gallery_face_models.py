"""A gallery's faces are all of one face model: it keeps being read by it after the server's
FACENITION_MODEL changes, and embeddings of another model are refused."""

import numpy as np
import pytest

from facenition.errors import BadRequest
from matching.galleries import gallery_enroll_embeddings
from matching.models import Face
from tests.matching.conftest import gallery_enroll, gallery_identify, synthetic_subjects

pytestmark = pytest.mark.django_db


@pytest.mark.faces
def test_a_dlib_gallery_is_still_searched_and_enrolled_with_dlib_after_the_server_moves_to_sface(
    authed, photos_by_identity, settings, pipeline_reads_each_photo_once
):
    first, second = photos_by_identity["deepface-a"], photos_by_identity["deepface-b"]
    settings.FACENITION_MODEL = "Dlib"
    assert gallery_enroll(authed, "deepface-a", first[:2]).status_code == 201
    settings.FACENITION_MODEL = "SFace"
    assert gallery_enroll(authed, "deepface-b", second[:2]).status_code == 201
    response = gallery_identify(authed, first[4], accuracy=1)
    assert response.status_code == 200, response.json()
    assert [c["subject"] for c in response.json()["faces"][0]["candidates"]] == ["deepface-a"]
    assert set(Face.objects.values_list("model_name", flat=True)) == {"Dlib"}


def test_embeddings_of_another_face_model_are_refused_by_a_gallery(client_row, settings):
    settings.FACENITION_MODEL = "Dlib"
    synthetic_subjects(client_row, 2)
    with pytest.raises(BadRequest, match="Dlib face model; SFace faces cannot be compared"):
        gallery_enroll_embeddings(
            client=client_row,
            subjects=iter([("newcomer", [np.ones(128, dtype=np.float32)])]),
            model_name="SFace",
            detector_name="dlib",
        )
    assert Face.objects.count() == 2
