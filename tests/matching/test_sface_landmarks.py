"""SFace's alignment choices for measurement (`calibrate_match --sface-landmarks`): each builds its own
pipeline, keyed apart in the embedding cache; an unknown choice, or one for another model, is refused."""

import dataclasses
import shutil

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from matching.pipeline import SFACE_LANDMARKS, FacePipeline, WeightsMissing, decode_image, weights_dir
from matching.pipeline.weights import YUNET
from matching.reading import pipeline_config


def sface(landmarks, **overrides):
    return dataclasses.replace(pipeline_config("SFace"), sface_landmarks=landmarks, **overrides)


def test_the_default_landmarks_keep_the_recorded_variant_and_the_others_are_keyed_apart():
    variants = {landmarks: sface(landmarks).variant for landmarks in SFACE_LANDMARKS}
    assert variants["dlib5"] == dataclasses.replace(pipeline_config("SFace")).variant
    assert variants["dlib5"].endswith("-cheap-first")
    assert len(set(variants.values())) == len(SFACE_LANDMARKS)
    assert "non-commercial" in variants["dlib68-non-commercial"]


@pytest.mark.faces
@pytest.mark.parametrize("landmarks", SFACE_LANDMARKS)
def test_each_landmark_choice_builds_a_pipeline_that_tells_people_apart(landmarks, photo):
    pipeline = FacePipeline(sface(landmarks)).load()

    def embedding(name):
        found = photo(name)
        return pipeline.analyse(decode_image(found.file, found.read()).pixels).largest.embedding

    first, again, other = (
        embedding("deepface-a_img1.jpg"),
        embedding("deepface-a_img2.jpg"),
        embedding("deepface-b_img8.jpg"),
    )
    assert first.shape == (128,) and np.linalg.norm(first) == pytest.approx(1.0)
    assert 1 - first @ again < 1 - first @ other


@pytest.mark.faces
def test_the_landmark_choices_lead_to_different_crops(photo):
    found = photo("deepface-a_img1.jpg")
    pixels = decode_image(found.file, found.read()).pixels
    embeddings = [FacePipeline(sface(landmarks)).analyse(pixels).largest.embedding for landmarks in SFACE_LANDMARKS]
    for index, one in enumerate(embeddings):
        for other in embeddings[index + 1 :]:
            assert not np.allclose(one, other)


@pytest.mark.parametrize("bad", ["mediapipe", "dlib68", "", "DLIB5"])
def test_an_unknown_landmark_choice_is_refused_with_the_choices(bad):
    with pytest.raises(ValueError, match="sface_landmarks: one of dlib5, yunet, dlib68-non-commercial"):
        sface(bad)
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("calibrate_match", "--model", "SFace", "--sface-landmarks", bad)


def test_other_landmarks_for_another_model_are_refused():
    with pytest.raises(ValueError, match="only with the SFace model"):
        dataclasses.replace(pipeline_config("Dlib"), sface_landmarks="yunet")
    with pytest.raises(CommandError, match="only with the SFace model"):
        call_command("calibrate_match", "--model", "Dlib", "--sface-landmarks", "yunet")


@pytest.mark.parametrize("damage, expected", [("delete", YUNET), ("flip", f"{YUNET} (checksum differs)")])
def test_yunet_landmarks_need_the_checked_yunet_file(tmp_path, damage, expected):
    source = weights_dir(pipeline_config().deepface_home)
    shutil.copytree(source, weights_dir(str(tmp_path)))
    path = weights_dir(str(tmp_path)) / YUNET
    if damage == "delete":
        path.unlink()
    else:
        content = bytearray(path.read_bytes())
        content[len(content) // 2] ^= 0xFF
        path.write_bytes(bytes(content))
    with pytest.raises(WeightsMissing, match=f"missing from .*: {expected.replace('(', '[(]').replace(')', '[)]')}"):
        FacePipeline(sface("yunet", deepface_home=str(tmp_path))).load()
    FacePipeline(sface("dlib5", deepface_home=str(tmp_path))).load()
