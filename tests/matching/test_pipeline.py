import numpy as np
import pytest
from django.core.management import CommandError, call_command

from matching.pipeline import (
    FacePipeline,
    PipelineConfig,
    cosine_distance,
    decode_image,
    missing_weights,
    place_weights,
)
from matching.services import face_pipeline

pytestmark = pytest.mark.faces


def analyse(photo):
    return face_pipeline().analyse(decode_image("image[0]", photo.read()).pixels)


def test_it_finds_every_face_and_puts_the_largest_first(photo):
    analysis = analyse(photo("group_couple.jpg"))
    assert len(analysis.faces) == 2
    areas = [face.box.area for face in analysis.faces]
    assert areas == sorted(areas, reverse=True)


def test_boxes_are_in_full_size_coordinates(photo):
    analysis = analyse(photo("deepface-a_img1.jpg"))
    box = analysis.largest.box
    assert (analysis.width, analysis.height) == (1382, 1868)
    assert 0 <= box.left < box.right <= analysis.width and 0 <= box.top < box.bottom <= analysis.height
    assert box.right - box.left > 640 / 2  # larger than the face could be in the 640-pixel detection copy


def test_embedding_is_the_dlib_descriptor(photo):
    face = analyse(photo("deepface-b_img8.jpg")).largest
    assert face.embedding.shape == (128,)
    assert np.isfinite(face.embedding).all() and np.abs(face.embedding).max() > 0


def test_detection_size_barely_changes_the_embedding(photo):
    pixels = decode_image("image[0]", photo("deepface-c_img3.jpg").read()).pixels
    small = FacePipeline(PipelineConfig(detect_max_side=480, deepface_home=face_pipeline().config.deepface_home))
    distance = cosine_distance(
        small.analyse(pixels).largest.embedding, face_pipeline().analyse(pixels).largest.embedding
    )
    assert distance < 0.01


def test_an_image_without_faces_gives_none():
    assert face_pipeline().analyse(np.full((300, 400, 3), 200, dtype=np.uint8)).faces == []


def test_place_weights_puts_dlib_models_where_deepface_looks(tmp_path):
    assert missing_weights("Dlib", "dlib", str(tmp_path)) != []
    place_weights(str(tmp_path))
    assert missing_weights("Dlib", "dlib", str(tmp_path)) == []
    assert place_weights(str(tmp_path)) == []  # already there: nothing copied again


def test_check_models_fails_clearly_without_weights(tmp_path, settings):
    settings.DEEPFACE_HOME = str(tmp_path)
    with pytest.raises(CommandError, match="weights missing .*dlib_face_recognition_resnet_model_v1.dat"):
        call_command("check_models")


def test_check_models_reports_the_loaded_models(capsys):
    call_command("check_models")
    out = capsys.readouterr().out
    assert "model Dlib, detector dlib" in out and "models OK" in out
