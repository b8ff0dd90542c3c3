"""The only bridge between the face pipeline and the rest of the server."""

import threading
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np
from django.conf import settings

from facenition.deadline import seconds_left
from facenition.errors import ApplicationError, BadRequest

from .accuracy import is_match, strictest_matching_level
from .pipeline import Box, Face, PipelineConfig, cosine_distance, get_pipeline

# One image is decoded and read at a time per process, whatever the number of threads serving
# requests: the memory a worker needs is one image's, and the cores are shared by the workers.
_face_work = threading.Lock()


def pipeline_config():
    return PipelineConfig(
        model_name=settings.FACENITION_MODEL,
        detector_name=settings.FACENITION_DETECTOR,
        detect_max_side=settings.FACENITION_DETECT_MAX_SIDE,
        deepface_home=settings.DEEPFACE_HOME,
        descriptor=settings.FACENITION_DESCRIPTOR,
        jitters=settings.FACENITION_DESCRIPTOR_JITTERS,
        align_on=settings.FACENITION_ALIGN_ON,
    )


def face_pipeline():
    return get_pipeline(pipeline_config())


@dataclass(frozen=True)
class FaceReading:
    label: str
    face_count: int
    face: Face  # the largest one in the photo


@contextmanager
def face_work():
    """The process's turn at face work, waited for no longer than the request's deadline allows."""
    left = seconds_left()
    if not _face_work.acquire(timeout=-1 if left is None else left):
        raise ApplicationError(
            f"The server is too busy to read these photos within {settings.FACENITION_REQUEST_DEADLINE_SECONDS} s; "
            "try again shortly.",
            status=503,
            headers={"Retry-After": "5"},
        )
    try:
        yield
    finally:
        _face_work.release()


def _in_original_size(face, scale):
    if scale == 1:
        return face
    box = face.box
    return replace(face, box=Box(*(round(side * scale) for side in (box.left, box.top, box.right, box.bottom))))


def _analyse(pipeline, image):
    decoded = image.decode()
    analysis = pipeline.analyse(decoded.pixels)
    return replace(analysis, faces=[_in_original_size(face, decoded.scale) for face in analysis.faces])


def face_quality_problem(size, sharpness, *, min_size, min_sharpness):
    """Why a face is too poor to judge, or None."""
    if size < min_size:
        return f"the face is too small to judge ({size} px wide; at least {min_size} are needed)"
    if sharpness < min_sharpness:
        return f"the face is too blurred to judge (sharpness {sharpness:.0f}; at least {min_sharpness:g} is needed)"
    return None


def faces_read(*, images, exactly_one=False):
    """Runs the pipeline on intake images, decoding each in its turn. Each must show a face (exactly
    one if asked) that is large and sharp enough to judge, else 400."""
    pipeline = face_pipeline()
    readings = []
    for image in images:
        with face_work():
            analysis = _analyse(pipeline, image)
        count = len(analysis.faces)
        if count == 0:
            raise BadRequest(f"{image.label}: no face found; send a photo where the face is clearly visible.")
        if exactly_one and count > 1:
            raise BadRequest(f"{image.label}: {count} faces found; send a photo of one person only.")
        problem = face_quality_problem(
            analysis.largest.size,
            analysis.largest.sharpness,
            min_size=settings.FACENITION_MIN_FACE_SIZE,
            min_sharpness=settings.FACENITION_MIN_FACE_SHARPNESS,
        )
        if problem:
            raise BadRequest(f"{image.label}: {problem}; send a closer, sharper photo.")
        readings.append(FaceReading(label=image.label, face_count=count, face=analysis.largest))
    return readings


def mean_embedding(readings):
    vectors = np.stack([reading.face.embedding for reading in readings])
    return vectors.mean(axis=0)


def describe_readings(readings):
    return [{"faces": r.face_count, "box": r.face.box.as_dict()} for r in readings]


@dataclass(frozen=True)
class MatchResult:
    match: bool
    accuracy: int
    max_accuracy: int
    faces: dict


def faces_match(*, images, references, accuracy):
    """1:1 comparison of two sets of photos; the largest face of each photo counts. Nothing is stored."""
    probe = faces_read(images=images)
    claimed = faces_read(images=references)
    distance = cosine_distance(mean_embedding(probe), mean_embedding(claimed))
    return MatchResult(
        match=is_match(distance, accuracy),
        accuracy=accuracy,
        max_accuracy=strictest_matching_level(distance),
        faces={"image": describe_readings(probe), "reference": describe_readings(claimed)},
    )
