import dataclasses

import cv2
import dlib
import numpy as np
import pytest
from django.core.management import CommandError, call_command

from matching.accuracy import MATCH_THRESHOLDS
from matching.pipeline import (
    FacePipeline,
    cosine_distance,
    decode_image,
    missing_weights,
    place_weights,
    weights_dir,
)
from matching.pipeline.weights import DESCRIPTOR, SHAPE_PREDICTOR
from matching.reading import face_pipeline, pipeline_config

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
    small = FacePipeline(dataclasses.replace(face_pipeline().config, detect_max_side=480))
    distance = cosine_distance(
        small.analyse(pixels).largest.embedding, face_pipeline().analyse(pixels).largest.embedding
    )
    # A seventh of what the most tolerant level accepts: 0.01 on Dlib's scale.
    assert distance < MATCH_THRESHOLDS[face_pipeline().config.model_name][1] / 7


def test_an_image_without_faces_gives_none():
    assert face_pipeline().analyse(np.full((300, 400, 3), 200, dtype=np.uint8)).faces == []


def test_place_weights_puts_dlib_models_where_deepface_looks(tmp_path):
    assert missing_weights("Dlib", "dlib", str(tmp_path)) != []
    place_weights(str(tmp_path))
    assert missing_weights("Dlib", "dlib", str(tmp_path)) == []
    assert place_weights(str(tmp_path)) == []  # already there: nothing copied again


def test_check_models_fails_clearly_without_weights(tmp_path, settings):
    settings.DEEPFACE_HOME = str(tmp_path)
    with pytest.raises(CommandError, match="weights missing .*shape_predictor_5_face_landmarks.dat"):
        call_command("check_models")


def test_check_models_reports_the_loaded_models(capsys, settings):
    call_command("check_models")
    out = capsys.readouterr().out
    assert f"model {settings.FACENITION_MODEL}, detector dlib" in out and "models OK" in out


def by_hand(pixels, box, chips):
    """dlib's descriptor of the aligned chip(s), computed without the pipeline."""
    folder = weights_dir(face_pipeline().config.deepface_home)
    landmarks = dlib.shape_predictor(str(folder / SHAPE_PREDICTOR))
    encoder = dlib.face_recognition_model_v1(str(folder / DESCRIPTOR))
    shape = landmarks(pixels, dlib.rectangle(box.left, box.top, box.right, box.bottom))
    chip = dlib.get_face_chip(pixels, shape, size=150, padding=0.25)
    return [np.asarray(encoder.compute_face_descriptor(c)) for c in chips(chip)]


def test_the_mirror_descriptor_averages_the_chip_and_its_mirror_image(photo):
    pixels = decode_image("image[0]", photo("deepface-c_img3.jpg").read()).pixels
    mirror = FacePipeline(dataclasses.replace(face_pipeline("Dlib").config, descriptor="mirror"))
    face = mirror.analyse(pixels).largest
    straight, flipped = by_hand(pixels, face.box, lambda chip: [chip, np.ascontiguousarray(chip[:, ::-1])])
    assert np.allclose(face.embedding, (straight + flipped) / 2)
    assert cosine_distance(straight, flipped) > 0.001  # the mirror image is another view, not the same numbers


def test_the_server_computes_the_plain_descriptor_by_default(photo):
    pixels = decode_image("image[0]", photo("deepface-c_img3.jpg").read()).pixels
    face = face_pipeline("Dlib").analyse(pixels).largest
    assert pipeline_config().descriptor == "plain" and pipeline_config().jitters == 0
    (straight,) = by_hand(pixels, face.box, lambda chip: [chip])
    assert np.array_equal(face.embedding, straight)


def test_the_descriptor_is_a_setting(settings):
    settings.FACENITION_MODEL = "Dlib"  # SFace has no variants
    settings.FACENITION_DESCRIPTOR = "mirror"
    settings.FACENITION_DESCRIPTOR_JITTERS = 2
    settings.FACENITION_ALIGN_ON = "detection"
    assert (pipeline_config().descriptor, pipeline_config().jitters, pipeline_config().align_on) == (
        "mirror",
        2,
        "detection",
    )
    assert face_pipeline().config.descriptor == "mirror"


def test_blur_lowers_the_sharpness_and_size_is_the_face_width(photo):
    pixels = decode_image("image[0]", photo("deepface-c_img3.jpg").read()).pixels
    sharp = face_pipeline().analyse(pixels).largest
    blurred = face_pipeline().analyse(cv2.GaussianBlur(pixels, (0, 0), 6)).largest
    assert blurred.sharpness < sharp.sharpness / 4
    assert sharp.size == sharp.box.right - sharp.box.left
