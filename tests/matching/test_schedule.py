"""The detection schedule: the cheap pass first must find what the thorough pass finds."""

import dataclasses

import cv2
import numpy as np
import pytest

from matching.pipeline import FacePipeline, cosine_distance, decode_image
from matching.pipeline.core import same_face
from matching.reading import face_pipeline

pytestmark = pytest.mark.faces


@pytest.fixture(scope="module")
def pipelines():
    # The schedule is dlib's detector's; the embedding distances below are on Dlib's scale.
    cheap_first = face_pipeline("Dlib")
    assert cheap_first.config.detect_schedule == "cheap-first"
    thorough = FacePipeline(dataclasses.replace(cheap_first.config, detect_schedule="thorough"))
    return cheap_first.load(), thorough.load()


@pytest.fixture(scope="module")
def every_photo(face_photos):
    return [(p, decode_image(p.file, p.read()).pixels) for p in face_photos]


def test_cheap_first_finds_the_face_thorough_finds_in_every_photo(pipelines, every_photo):
    cheap_first, thorough = pipelines
    for photo, pixels in every_photo:
        before = thorough.analyse(pixels, embed="largest").largest
        after = cheap_first.analyse(pixels, embed="largest").largest
        assert (before is None) == (after is None), photo.file
        if before is None:
            continue
        assert same_face(before.box, after.box), photo.file
        # The same face, framed by another pass of the detector: the embedding barely moves.
        assert cosine_distance(before.embedding, after.embedding) < 0.01, photo.file


def test_when_every_face_counts_cheap_first_counts_what_thorough_counts(pipelines, every_photo):
    cheap_first, thorough = pipelines
    counts = {
        photo.file: (
            thorough.analyse(pixels, embed="largest").face_count,
            cheap_first.analyse(pixels, every_face=True, embed="largest").face_count,
        )
        for photo, pixels in every_photo
    }
    assert {file: before for file, (before, _) in counts.items()} == {
        file: after for file, (_, after) in counts.items()
    }
    assert counts["group_selfie-many-people.jpg"][0] >= 4  # the group photos do have several faces


def test_a_face_too_small_for_the_cheap_pass_is_found_by_the_upsampled_one(pipelines, photo):
    cheap_first, thorough = pipelines
    pixels = decode_image("image", photo("deepface-a_img1.jpg").read()).pixels
    # Shrunk to 160 px high, the face is about 60 px wide: below what the plain pass sees (dlib's
    # window is 80 px), above the half of it the upsampled pass sees.
    height, width = pixels.shape[:2]
    small = cv2.resize(pixels, (round(width * 160 / height), 160), interpolation=cv2.INTER_AREA)
    with cheap_first._reader() as models:
        assert cheap_first._detect_dlib(small, models, upsample=0) == []
    found = cheap_first.analyse(small).largest
    assert found is not None
    assert same_face(found.box, thorough.analyse(small).largest.box)


def test_thorough_is_what_deepfaces_dlib_detector_finds(pipelines, photo):
    _, thorough = pipelines
    pixels = decode_image("image", photo("group_selfie-many-people.jpg").read()).pixels
    small, scale = thorough._downscale(pixels)
    regions = thorough.detector.detect_faces(np.ascontiguousarray(small[:, :, ::-1]))
    expected = sorted(
        (round(r.x / scale), round(r.y / scale), round((r.x + r.w) / scale), round((r.y + r.h) / scale))
        for r in regions
    )
    found = sorted((f.box.left, f.box.top, f.box.right, f.box.bottom) for f in thorough.analyse(pixels).faces)
    assert found == expected


def test_cheap_first_skips_the_upsampled_pass_on_a_photo_of_one_person(pipelines, photo, monkeypatch):
    cheap_first, _ = pipelines
    pixels = decode_image("image", photo("deepface-b_img8.jpg").read()).pixels
    passes = []
    detect = FacePipeline._detect_dlib

    def counted(self, small, reader, *, upsample):
        passes.append(upsample)
        return detect(self, small, reader, upsample=upsample)

    monkeypatch.setattr(FacePipeline, "_detect_dlib", counted)
    cheap_first.analyse(pixels)
    assert passes == [0]
    cheap_first.analyse(pixels, every_face=True)
    assert passes == [0, 0, 1]
