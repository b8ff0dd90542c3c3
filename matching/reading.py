"""The only bridge between the face pipeline (`matching.pipeline`) and the rest of the server: the
pipeline as the settings configure it, the core slots photos are read on, and the rules every
reading of a photo obeys (a face large and sharp enough to judge; photos that show one person).
Every other module takes what it needs of the pipeline from here."""

import itertools
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import copy_context
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
from django.conf import settings

from facenition.deadline import seconds_left
from facenition.errors import ApplicationError, BadRequest

from .accuracy import MATCH_THRESHOLDS, MIN_ACCURACY
from .cores import CoreSlots
from .pipeline import (
    ALIGN_ON,
    DESCRIPTORS,
    OWN_MODELS,
    Analysis,
    Box,
    DecodedImage,
    DetectedFace,
    Embedding,
    FacePipeline,
    ImageLimits,
    ImageRefused,
    PipelineConfig,
    Readable,
    WeightsMissing,
    cosine_distance,
    decode_image,
    get_pipeline,
    inspect_image,
    missing_weights,
    place_weights,
    weights_dir,
)

__all__ = [
    "ALIGN_ON",
    "DESCRIPTORS",
    "Box",
    "DecodedImage",
    "DetectedFace",
    "Embedding",
    "FaceReading",
    "ImageLimits",
    "ImageRefused",
    "OWN_MODELS",
    "Readable",
    "WeightsMissing",
    "cosine_distance",
    "decode_image",
    "face_pipeline",
    "face_quality_problem",
    "face_work",
    "faces_read",
    "faces_read_every",
    "inspect_image",
    "mean_embedding",
    "missing_weights",
    "photos_disagree",
    "pipeline_config",
    "place_weights",
    "take_spare_core",
    "weights_dir",
]

# Photos are read on core slots shared by the server's processes (matching.cores), and each process
# holds at most FACENITION_PHOTO_THREADS decoded photos at a time: its memory is bounded by that
# many images, whatever the number of threads serving requests.
_core_slots = CoreSlots()


# One photo decodes at a time per process: decoding is where a photo's memory peaks (a 40 MP PNG
# takes about 240 MB before it is reduced), and it is a small part of a photo's time.
_decoding = threading.Lock()


@lru_cache(maxsize=2)
def _photo_slots(count: int) -> threading.BoundedSemaphore:
    return threading.BoundedSemaphore(count)


def pipeline_config(model_name: str | None = None) -> PipelineConfig:
    """The configured pipeline, for `model_name` (a face model a token or gallery was made with)
    instead of the server's FACENITION_MODEL when given."""
    return PipelineConfig(
        model_name=model_name or settings.FACENITION_MODEL,
        detector_name=settings.FACENITION_DETECTOR,
        detect_max_side=settings.FACENITION_DETECT_MAX_SIDE,
        deepface_home=settings.DEEPFACE_HOME,
        descriptor=settings.FACENITION_DESCRIPTOR,
        jitters=settings.FACENITION_DESCRIPTOR_JITTERS,
        align_on=settings.FACENITION_ALIGN_ON,
        detect_schedule=settings.FACENITION_DETECT_SCHEDULE,
    )


def face_pipeline(model_name: str | None = None) -> FacePipeline:
    """The process's pipeline for `model_name` (default: FACENITION_MODEL). Each model loads on first
    use only: a server that never sees a token or gallery of the other model never loads it."""
    return get_pipeline(pipeline_config(model_name))


@dataclass(frozen=True)
class FaceReading:
    label: str
    face_count: int
    face: DetectedFace  # the largest one in the photo


def _too_busy() -> ApplicationError:
    return ApplicationError(
        f"The server is too busy to read these photos within {settings.FACENITION_REQUEST_DEADLINE_SECONDS} s; "
        "try again shortly.",
        status=503,
        headers={"Retry-After": "5"},
    )


@contextmanager
def face_work() -> Iterator[None]:
    """The request's turn at face work: a slot of the worker's (FACENITION_PHOTO_THREADS) and a core,
    waited for no longer than the request's deadline allows."""
    process = _photo_slots(settings.FACENITION_PHOTO_THREADS)
    left = seconds_left()
    waited_until = None if left is None else time.monotonic() + left
    if not process.acquire(timeout=left):
        raise _too_busy()
    core = _core_slots.take(None if waited_until is None else max(0.0, waited_until - time.monotonic()))
    if core is None:
        process.release()
        raise _too_busy()
    try:
        yield
    finally:
        core.release()
        process.release()


def take_spare_core() -> Callable[[], None] | None:
    """One more slot and core for this request if both are free right now and no other request
    waits for a core (never waited for): the function that gives them back, or None. On a busy
    server there is none, and a request reads its photos one at a time."""
    process = _photo_slots(settings.FACENITION_PHOTO_THREADS)
    if _core_slots.anyone_waiting() or not process.acquire(blocking=False):
        return None
    core = _core_slots.try_take()
    if core is None:
        process.release()
        return None

    def give_back() -> None:
        core.release()
        process.release()

    return give_back


def _in_original_size(analysis: Analysis, decoded: DecodedImage) -> Analysis:
    """The analysis with its boxes in the pixels of the photo as sent (it may have been decoded reduced)."""
    scale = decoded.scale
    if scale == 1:
        return analysis

    def scaled(face: DetectedFace) -> DetectedFace:
        box = face.box
        return replace(face, box=Box(*(round(side * scale) for side in (box.left, box.top, box.right, box.bottom))))

    return replace(analysis, faces=[scaled(face) for face in analysis.faces])


def _analyse(pipeline: FacePipeline, decoded: DecodedImage, *, every_face: bool, embed: str) -> Analysis:
    return _in_original_size(pipeline.analyse(decoded.pixels, every_face=every_face, embed=embed), decoded)


def face_quality_problem(size: int, sharpness: float, *, min_size: int, min_sharpness: float) -> str | None:
    """Why a face is too poor to judge, or None."""
    if size < min_size:
        return f"the face is too small to judge ({size} px wide; at least {min_size} are needed)"
    if sharpness < min_sharpness:
        return f"the face is too blurred to judge (sharpness {sharpness:.0f}; at least {min_sharpness:g} is needed)"
    return None


def _read_in_order(
    images: Sequence[Readable], *, every_face: bool, check: Callable[[Readable, Analysis], None], model_name: str
) -> list[Analysis]:
    """Each photo's analysis, in order; `check` raises for a photo that will not do. None is started
    after one has failed, and the error raised is that of the first failing photo in the order
    sent, as if they had been read one after the other. Only the largest face of each is embedded.

    The request's thread, on its own turn at face work, decodes each photo (one at a time per
    worker), then hands it to a helper thread if a spare core is free right now and a helper is
    idle, else reads it itself; it reads the last photo itself. A helper holds its core only while
    it reads its photo: on an idle server one request uses both cores, on a busy one every request
    reads one photo at a time. The photos in memory are at most the request's own and its
    helpers'; a photo large enough to be decoded reduced waits until the helpers are done."""
    pipeline = face_pipeline(model_name)
    analyses: list[Analysis | None] = [None] * len(images)
    failures: dict[int, Exception] = {}
    helpers = max(0, settings.FACENITION_PHOTO_THREADS - 1) if len(images) > 1 else 0
    idle = threading.Semaphore(helpers)

    def read(index: int, decoded: DecodedImage) -> None:
        try:
            analysis = _analyse(pipeline, decoded, every_face=every_face, embed="largest")
            check(images[index], analysis)
            analyses[index] = analysis
        except Exception as failure:
            failures[index] = failure

    def read_on_spare_core(index: int, held: list[DecodedImage], give_back: Callable[[], None]) -> None:
        try:
            read(index, held.pop())
        finally:
            give_back()
            idle.release()

    with face_work(), ThreadPoolExecutor(max_workers=max(1, helpers), thread_name_prefix="photo") as pool:
        for index, image in enumerate(images):
            if image.area > settings.FACENITION_DECODE_MAX_PIXELS:  # peaks at hundreds of MB while decoding
                for _ in range(helpers):
                    idle.acquire()
                for _ in range(helpers):
                    idle.release()
            if failures:
                break
            try:
                decoded = _decode(image)
            except Exception as failure:
                failures[index] = failure
                break
            give_back = None
            # The last photo is the request thread's own: handing it over would leave its core idle.
            if helpers and index < len(images) - 1 and idle.acquire(blocking=False):
                give_back = take_spare_core()
                if give_back is None:
                    idle.release()
            if give_back:
                # The helper runs in a copy of the request's context: its log lines carry the request id.
                pool.submit(copy_context().run, read_on_spare_core, index, [decoded], give_back)
            else:
                read(index, decoded)
            del decoded  # the pixels go before the next photo is decoded
        for _ in range(helpers):
            idle.acquire()  # every helper done
    if failures:
        raise failures[min(failures)]
    return [analysis for analysis in analyses if analysis is not None]


def _decode(image: Readable) -> DecodedImage:
    with _decoding:
        return image.decode()


def faces_read(
    *, images: Sequence[Readable], exactly_one: bool = False, model_name: str | None = None
) -> list[FaceReading]:
    """Runs the pipeline of `model_name` (default: FACENITION_MODEL) on intake images. Each must show
    a face (exactly one if asked: then every face in the photo is looked for) that is large and
    sharp enough to judge, else 400 naming the first photo, in the order sent, that fails."""

    def check(image: Readable, analysis: Analysis) -> None:
        count = analysis.face_count
        if count == 0:
            raise BadRequest(f"{image.label}: no face found; send a photo where the face is clearly visible.")
        if exactly_one and count > 1:
            raise BadRequest(f"{image.label}: {count} faces found; send a photo of one person only.")
        largest = analysis.faces[0]
        problem = face_quality_problem(
            largest.size,
            largest.sharpness,
            min_size=settings.FACENITION_MIN_FACE_SIZE,
            min_sharpness=settings.FACENITION_MIN_FACE_SHARPNESS,
        )
        if problem:
            raise BadRequest(f"{image.label}: {problem}; send a closer, sharper photo.")

    analyses = _read_in_order(
        images, every_face=exactly_one, check=check, model_name=model_name or settings.FACENITION_MODEL
    )
    return [
        FaceReading(label=image.label, face_count=analysis.face_count, face=analysis.faces[0])
        for image, analysis in zip(images, analyses, strict=True)
    ]


def mean_embedding(readings: Sequence[FaceReading]) -> Embedding:
    vectors = np.stack([reading.face.embedding for reading in readings])
    return vectors.mean(axis=0)


def faces_read_every(*, image: Readable, model_name: str | None = None) -> list[DetectedFace]:
    """Every face in one photo, largest first, boxes in the photo's pixels, read by the pipeline of
    `model_name` (default: FACENITION_MODEL); 400 when there is none."""
    pipeline = face_pipeline(model_name)
    with face_work():
        analysis = _analyse(pipeline, _decode(image), every_face=True, embed="all")
    if not analysis.faces:
        raise BadRequest(f"{image.label}: no face found; send a photo where the face is clearly visible.")
    return analysis.faces


def photos_disagree(readings: Sequence[FaceReading], *, model: str, enrolled: Embedding | None = None) -> str | None:
    """Why the photos do not show one person, or None when every pair of them is within /match's most
    tolerant level: "<photo> does not show the same person as <the others it is apart from>", naming
    the photo apart from the most others (on a tie, the later one: the first sets the person). Each
    photo is compared with each other photo, never with a mean of them: a mean of several people's
    faces is no one's face, and can come closer to a stranger's than any of them. `enrolled`, the
    mean face of a gallery subject (already one person), counts as one more photo to agree with.
    `model`: the face model that read them, whose most tolerant level applies."""
    threshold = MATCH_THRESHOLDS[model][MIN_ACCURACY]
    apart: dict[str, list[str]] = {reading.label: [] for reading in readings}
    for first, second in itertools.combinations(readings, 2):
        if cosine_distance(first.face.embedding, second.face.embedding) > threshold:
            apart[first.label].append(second.label)
            apart[second.label].append(first.label)
    if enrolled is not None:
        for reading in readings:
            if cosine_distance(reading.face.embedding, enrolled) > threshold:
                apart[reading.label].insert(0, "the subject's enrolled faces")
    worst = max(reversed(readings), key=lambda reading: len(apart[reading.label]))
    if not apart[worst.label]:
        return None
    return f"{worst.label} does not show the same person as {', '.join(apart[worst.label])}"
