"""The only bridge between the face pipeline and the rest of the server."""

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import copy_context
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Count

from credentials.models import Client, ClientToken
from enrollment.protection.keyring import GALLERY_EMBEDDINGS, keyring_from
from facenition.deadline import seconds_left
from facenition.errors import ApplicationError, BadRequest, Conflict, NotFound, UpstreamFailure

from .accuracy import (
    DEFAULT_ACCURACY,
    MATCH_THRESHOLDS,
    MIN_ACCURACY,
    TARGET_FALSE_MATCH_RATES,
    identification_threshold,
    is_match,
    largest_gallery,
    strictest_identifying_level,
    strictest_matching_level,
)
from .cores import CoreSlots
from .gallery_index import gallery_search, gallery_size
from .models import Face, Gallery, Subject, SubjectKey
from .pipeline import (
    Analysis,
    Box,
    DecodedImage,
    Embedding,
    FacePipeline,
    PipelineConfig,
    Readable,
    cosine_distance,
    get_pipeline,
)
from .pipeline import Face as DetectedFace
from .sealing import (
    EMBEDDING_DTYPE,
    SealBroken,
    Sealer,
    face_associated_data,
    new_subject_key,
    open_face,
    open_metadata,
    open_subject_key,
    seal_metadata,
    wrap_subject_key,
)

log = logging.getLogger("facenition.matching")

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


def describe_readings(readings: Sequence[FaceReading]) -> list[dict[str, Any]]:
    return [{"faces": r.face_count, "box": r.face.box.as_dict()} for r in readings]


@dataclass(frozen=True)
class MatchResult:
    match: bool
    accuracy: int
    max_accuracy: int
    faces: dict


def faces_match(*, images: Sequence[Readable], references: Sequence[Readable], accuracy: int) -> MatchResult:
    """1:1 comparison of two sets of photos; the largest face of each photo counts. Nothing is stored."""
    # Read together, so that the photos go side by side; an error names the first failing photo,
    # images before references, as when each set was read on its own.
    model = settings.FACENITION_MODEL
    readings = faces_read(images=[*images, *references], model_name=model)
    probe, claimed = readings[: len(images)], readings[len(images) :]
    distance = cosine_distance(mean_embedding(probe), mean_embedding(claimed))
    return MatchResult(
        match=is_match(distance, accuracy, model),
        accuracy=accuracy,
        max_accuracy=strictest_matching_level(distance, model),
        faces={"image": describe_readings(probe), "reference": describe_readings(claimed)},
    )


# Galleries: 1:N identification (`/gallery/...`). Embeddings are stored, sealed, for the clients who
# enroll people in a gallery; the search runs on each worker's copy (matching.gallery_index).

MAX_CANDIDATES = 10


def owner_of(credential: ClientToken) -> Client:
    """Who owns the gallery a request works on: the client whose credential (client token) it presents."""
    return credential.client


@lru_cache(maxsize=4)
def _wrappers_for(current: str, retired: str) -> tuple[Sealer, dict[str, Sealer]]:
    keyring = keyring_from(current, retired)
    wrappers = {
        key.key_id.hex(): Sealer(key=key.subkey(GALLERY_EMBEDDINGS), key_id=key.key_id.hex()) for key in keyring.keys
    }
    return wrappers[keyring.current.key_id.hex()], wrappers


def gallery_key_wrapper() -> Sealer:
    """What wraps new subject keys: the gallery sub-key of the current token key."""
    return _wrappers_for(settings.FACENITION_TOKEN_KEY, settings.FACENITION_RETIRED_TOKEN_KEYS)[0]


def gallery_key_wrappers() -> dict[str, Sealer]:
    """Every gallery sub-key that may open a wrapped subject key, by key id: the current token key's
    and each retired key's (FACENITION_RETIRED_TOKEN_KEYS), so that keys wrapped before a rotation still open."""
    return _wrappers_for(settings.FACENITION_TOKEN_KEY, settings.FACENITION_RETIRED_TOKEN_KEYS)[1]


def subject_sealer(subject: Subject) -> Sealer:
    """What seals and opens the subject's faces and metadata: its own key, unwrapped. SealBroken when
    its key is gone (the subject was forgotten), altered, or wrapped under a key the server lacks."""
    key = SubjectKey.objects.filter(subject_id=subject.pk).first()
    return open_subject_key(
        gallery_key_wrappers(),
        None if key is None else bytes(key.wrapped_key),
        "" if key is None else key.key_id,
        gallery_id=subject.gallery_id,
        subject_id=subject.pk,
    )


def _subject_create(*, gallery: Gallery, name: str, metadata: dict[str, Any]) -> tuple[Subject, Sealer]:
    row = Subject.objects.create(gallery=gallery, name=name, changed_version=gallery.version)
    wrapper = gallery_key_wrapper()
    sealer, wrapped = new_subject_key(wrapper, gallery_id=gallery.pk, subject_id=row.pk)
    SubjectKey.objects.create(subject=row, wrapped_key=wrapped, key_id=wrapper.key_id)
    if metadata:
        row.sealed_metadata = seal_metadata(sealer, metadata, gallery_id=gallery.pk, subject_id=row.pk)
        row.save(update_fields=["sealed_metadata"])
    return row, sealer


@dataclass(frozen=True)
class EnrolledSubject:
    subject: Subject
    face_count: int
    added: list


@dataclass(frozen=True)
class IdentifiedFace:
    box: dict
    candidates: list  # of {"subject": name, "max_accuracy": level}, best first


@dataclass(frozen=True)
class Identification:
    accuracy: int
    gallery_subjects: int
    faces: list  # of IdentifiedFace, largest first


@contextmanager
def _sealed_faces_checked() -> Iterator[None]:
    """A stored embedding that does not open under the server's keys (moved to another row, altered,
    or sealed under a key since removed) stops the request: nothing is searched without it."""
    try:
        yield
    except SealBroken as broken:
        log.error("gallery integrity: %s", broken)
        raise UpstreamFailure(
            f"The gallery cannot be searched: {broken}. The operator must restore it from a backup, put the "
            "token key back in FACENITION_RETIRED_TOKEN_KEYS, or forget that face."
        ) from None


def gallery_model(gallery: Gallery) -> str:
    """The face model of the gallery's faces: photos enrolled in it or searched against it are read by
    that model's pipeline, whatever FACENITION_MODEL says, so that a gallery made with an older model
    keeps working until its subjects are forgotten. An empty gallery takes FACENITION_MODEL."""
    if Subject.objects.filter(gallery=gallery).exists():
        return gallery.model_name
    return settings.FACENITION_MODEL


def _gallery_model_set(gallery: Gallery, model_name: str, *, error: type[ApplicationError]) -> None:
    """Records that the gallery (locked) holds faces of `model_name`; `error` when it holds another
    model's, which could never be compared with them."""
    current = gallery_model(gallery)
    if current != model_name:
        raise error(
            f"The gallery holds faces made with the {current} face model; {model_name} faces cannot be "
            "compared with them."
        )
    if gallery.model_name != model_name:
        gallery.model_name = model_name
        gallery.save(update_fields=["model_name"])


def _open_face(face: Face, sealer: Sealer, gallery_id: int) -> np.ndarray:
    plain = open_face(
        sealer, bytes(face.sealed_embedding), gallery_id=gallery_id, subject_id=face.subject_id, face_id=face.pk
    )
    return np.frombuffer(plain, dtype=EMBEDDING_DTYPE)


def _gallery_disagreement(readings: Sequence[FaceReading], enrolled: Sequence[Embedding], model: str) -> str | None:
    """Why new photos do not fit a subject, naming the photo that strays furthest, or None. Each new
    photo is compared with the mean of every other face of the subject (enrolled and new); beyond
    /match's most tolerant level, it shows someone else."""
    threshold = MATCH_THRESHOLDS[model][MIN_ACCURACY]
    vectors = [*enrolled, *(reading.face.embedding for reading in readings)]
    if len(vectors) < 2:
        return None
    worst, worst_distance = None, threshold
    for position, reading in enumerate(readings, start=len(enrolled)):
        others = [vector for i, vector in enumerate(vectors) if i != position]
        distance = cosine_distance(reading.face.embedding, np.mean(others, axis=0))
        # On a tie (two photos that disagree), the later one is named: the first sets the subject.
        if distance > threshold and distance >= worst_distance:
            worst, worst_distance = reading, distance
    if worst is None:
        return None
    whom = "the subject's enrolled faces" if enrolled else "the other photos"
    return f"{worst.label} does not show the same person as {whom}; send photos of this subject only."


def gallery_enroll(
    *, client: Client, subject: str, images: Sequence[Readable], metadata: dict[str, Any] | None = None
) -> EnrolledSubject:
    """Adds the face of each photo (exactly one each) to `subject` in the client's gallery, creating
    both when new. The photos must show the subject's person: 400 naming the one that does not."""
    existing = Gallery.objects.filter(client=client).first()
    config = pipeline_config(None if existing is None else gallery_model(existing))
    readings = faces_read(images=images, exactly_one=True, model_name=config.model_name)
    with transaction.atomic():
        gallery, _ = Gallery.objects.get_or_create(client=client)
        gallery = Gallery.objects.select_for_update().get(pk=gallery.pk)
        # Another request may have emptied the gallery, or given an empty one its first faces, meanwhile.
        _gallery_model_set(gallery, config.model_name, error=Conflict)
        row = Subject.objects.filter(gallery=gallery, name=subject).first()
        sealer, enrolled = None, []
        if row is not None:
            with _sealed_faces_checked():
                sealer = subject_sealer(row)
                enrolled = [_open_face(face, sealer, gallery.pk) for face in row.faces.all()]
        problem = _gallery_disagreement(readings, enrolled, config.model_name)
        if problem:
            raise BadRequest(problem)
        gallery.record_change()
        if row is None or sealer is None:
            row, sealer = _subject_create(gallery=gallery, name=subject, metadata=metadata or {})
        else:
            row.changed_version = gallery.version
            if metadata is not None:
                row.sealed_metadata = seal_metadata(sealer, metadata, gallery_id=gallery.pk, subject_id=row.pk)
            row.save(update_fields=["changed_version", "sealed_metadata"])
        added = []
        for reading in readings:
            face = Face(
                subject=row,
                model_name=config.model_name,
                detector_name=config.detector_name,
                descriptor=config.variant,
                quality=float(reading.face.sharpness),
                **{f"box_{name}": value for name, value in reading.face.box.as_dict().items()},
            )
            face.sealed_embedding = sealer.seal(
                reading.face.embedding,
                associated_data=face_associated_data(gallery_id=gallery.pk, subject_id=row.pk, face_id=face.pk),
            )
            face.save(force_insert=True)
            added.append(face)
        face_count = row.faces.count()
    return EnrolledSubject(subject=row, face_count=face_count, added=added)


def gallery_enroll_embeddings(
    *,
    client: Client,
    subjects: Iterable[tuple[str, list[Embedding]]],
    model_name: str,
    detector_name: str,
    batch: int = 5000,
) -> int:
    """Adds subjects whose embeddings were computed elsewhere (an import, the benchmark): `subjects`
    yields (name, [embedding, ...]) for names new to the gallery. No photo is read and no consistency
    is checked: the caller vouches for both. Returns how many faces were added. 400 when the gallery
    holds faces of another model: they could never be compared."""
    wrapper = gallery_key_wrapper()
    gallery, _ = Gallery.objects.get_or_create(client=client)
    with transaction.atomic():
        _gallery_model_set(Gallery.objects.select_for_update().get(pk=gallery.pk), model_name, error=BadRequest)
    added = 0
    pending: list[tuple[str, list[np.ndarray]]] = []  # (subject name, its embeddings), written in batches

    def flush() -> None:
        nonlocal added
        with transaction.atomic():
            locked = Gallery.objects.select_for_update().get(pk=gallery.pk)
            locked.record_change()
            rows = Subject.objects.bulk_create(
                [Subject(gallery=locked, name=name, changed_version=locked.version) for name, _ in pending]
            )
            faces, keys = [], []
            for row, (_, embeddings) in zip(rows, pending, strict=True):
                sealer, wrapped = new_subject_key(wrapper, gallery_id=locked.pk, subject_id=row.pk)
                keys.append(SubjectKey(subject=row, wrapped_key=wrapped, key_id=wrapper.key_id))
                for embedding in embeddings:
                    face = Face(
                        subject=row,
                        model_name=model_name,
                        detector_name=detector_name,
                        box_left=0,
                        box_top=0,
                        box_width=0,
                        box_height=0,
                        quality=0.0,
                    )
                    face.sealed_embedding = sealer.seal(
                        embedding,
                        associated_data=face_associated_data(gallery_id=locked.pk, subject_id=row.pk, face_id=face.pk),
                    )
                    faces.append(face)
            SubjectKey.objects.bulk_create(keys, batch_size=batch)
            Face.objects.bulk_create(faces, batch_size=batch)
            added += len(faces)
        pending.clear()

    for name, embeddings in subjects:
        pending.append((name, list(embeddings)))
        if len(pending) >= batch:
            flush()
    if pending:
        flush()
    return added


def faces_read_every(*, image: Readable, model_name: str | None = None) -> list[DetectedFace]:
    """Every face in one photo, largest first, boxes in the photo's pixels, read by the pipeline of
    `model_name` (default: FACENITION_MODEL); 400 when there is none."""
    pipeline = face_pipeline(model_name)
    with face_work():
        analysis = _analyse(pipeline, _decode(image), every_face=True, embed="all")
    if not analysis.faces:
        raise BadRequest(f"{image.label}: no face found; send a photo where the face is clearly visible.")
    return analysis.faces


def _judgeable(face: DetectedFace) -> bool:
    """Whether a face is large and sharp enough to be anyone's candidate (the floor /match refuses
    photos by); a face in the background of a group photo may not be."""
    return (
        face_quality_problem(
            face.size,
            face.sharpness,
            min_size=settings.FACENITION_MIN_FACE_SIZE,
            min_sharpness=settings.FACENITION_MIN_FACE_SHARPNESS,
        )
        is None
    )


def _too_large(accuracy: int, subjects: int, model: str) -> BadRequest:
    usable = [
        level for level in TARGET_FALSE_MATCH_RATES if identification_threshold(level, subjects, model) is not None
    ]
    advice = (
        f"ask at accuracy {max(usable)} or below"
        if usable
        else "no level can hold its false-match target over that many people; forget subjects or split the gallery"
    )
    return BadRequest(
        f"accuracy: the gallery holds {subjects} subjects, more than accuracy {accuracy} can search "
        f"(at most {largest_gallery(accuracy)}: each subject compared is a chance of a false match); {advice}."
    )


def gallery_identify(
    *, client: Client, images: Sequence[Readable], accuracy: int = DEFAULT_ACCURACY, limit: int = 1
) -> Identification:
    """Who is each face in the photo? Up to `limit` candidates per face, best first, each a subject
    that passes `accuracy` scored 1:N: the level's false-match target holds for the whole gallery."""
    if len(images) != 1:
        raise BadRequest(f"image: send one photo to identify ({len(images)} were sent).")
    gallery = Gallery.objects.filter(client=client).first()
    if gallery is None or not Subject.objects.filter(gallery=gallery).exists():
        faces = faces_read_every(image=images[0])
        return Identification(accuracy, 0, [IdentifiedFace(face.box.as_dict(), []) for face in faces])
    model = gallery_model(gallery)
    with _sealed_faces_checked():
        subjects = gallery_size(gallery)
    threshold = identification_threshold(accuracy, subjects, model)
    if threshold is None:
        raise _too_large(accuracy, subjects, model)
    faces = faces_read_every(image=images[0], model_name=model)
    subjects, found = gallery_nearest(gallery=gallery, embeddings=[face.embedding for face in faces], limit=limit)
    identified = [
        IdentifiedFace(
            face.box.as_dict(),
            [
                {"subject": c.subject, "max_accuracy": strictest_identifying_level(c.distance, subjects, model)}
                for c in candidates
                if c.distance <= threshold
            ]
            if _judgeable(face)
            else [],
        )
        for face, candidates in zip(faces, found, strict=True)
    ]
    return Identification(accuracy, subjects, identified)


@dataclass(frozen=True)
class Candidate:
    subject: str
    distance: float  # cosine distance to the subject's mean face


def gallery_nearest(*, gallery: Gallery, embeddings: list, limit: int) -> tuple[int, list[list[Candidate]]]:
    """(subjects in the gallery, the `limit` nearest subjects of each embedding, nearest first), at the
    version of `gallery` just read: all that identification costs beyond reading the photo."""
    with _sealed_faces_checked():
        subjects, found = gallery_search(gallery, embeddings, limit)
    wanted = {n.subject_id for neighbours in found for n in neighbours}
    names = dict(Subject.objects.filter(pk__in=wanted).values_list("pk", "name")) if wanted else {}
    return subjects, [
        [Candidate(names[n.subject_id], n.distance) for n in neighbours if n.subject_id in names]
        for neighbours in found
    ]


@dataclass(frozen=True)
class ListedSubject:
    subject: Subject
    metadata: dict[str, Any]
    face_ids: list[uuid.UUID]


def gallery_subjects(*, client: Client, page: int = 1, page_size: int = 50) -> tuple[int, list[ListedSubject]]:
    """One page of the client's subjects by name, each with its metadata, face count and face ids; and the total."""
    subjects = (
        Subject.objects.filter(gallery__client=client)
        .select_related("key")
        .annotate(face_count=Count("faces"))
        .order_by("name", "pk")
    )
    total = subjects.count()
    rows = list(subjects[(page - 1) * page_size : page * page_size])
    face_ids: dict[int, list] = {}
    for subject_id, face_id in (
        Face.objects.filter(subject__in=rows).order_by("created_at").values_list("subject_id", "id")
    ):
        face_ids.setdefault(subject_id, []).append(face_id)
    wrappers = gallery_key_wrappers()
    listed = []
    with _sealed_faces_checked():
        for row in rows:
            ids = {"gallery_id": row.gallery_id, "subject_id": row.pk}
            key = getattr(row, "key", None)
            sealer = open_subject_key(
                wrappers, bytes(key.wrapped_key) if key else None, key.key_id if key else "", **ids
            )
            metadata = open_metadata(sealer, bytes(row.sealed_metadata), **ids)
            listed.append(ListedSubject(row, metadata, face_ids.get(row.pk, [])))
    return total, listed


def gallery_subject_metadata(*, subject: Subject) -> dict[str, Any]:
    """The subject's metadata, opened with its key."""
    return open_metadata(
        subject_sealer(subject), bytes(subject.sealed_metadata), gallery_id=subject.gallery_id, subject_id=subject.pk
    )


@dataclass(frozen=True)
class Forgotten:
    subject: str
    subjects: int
    faces: int


def _subject_rekey(row: Subject) -> None:
    """Gives the subject a new key and seals its faces and metadata again under it: the old key, the
    only one that opened a face just forgotten, is then gone from the live table."""
    ids = {"gallery_id": row.gallery_id, "subject_id": row.pk}
    old = subject_sealer(row)
    wrapper = gallery_key_wrapper()
    sealer, wrapped = new_subject_key(wrapper, **ids)
    for face in row.faces.all():
        embedding = _open_face(face, old, row.gallery_id)
        Face.objects.filter(pk=face.pk).update(
            sealed_embedding=sealer.seal(embedding, associated_data=face_associated_data(face_id=face.pk, **ids))
        )
    metadata = open_metadata(old, bytes(row.sealed_metadata), **ids)
    Subject.objects.filter(pk=row.pk).update(sealed_metadata=seal_metadata(sealer, metadata, **ids))
    SubjectKey.objects.filter(subject_id=row.pk).update(wrapped_key=wrapped, key_id=wrapper.key_id)


def gallery_forget(*, client: Client, subject: str = "", face_id: uuid.UUID | None = None) -> Forgotten:
    """Deletes a subject with its key and all its faces, or one face (and its subject with its last
    face), at once. A subject that keeps other faces gets a new key, so that no key left in the
    database opens a copy of the forgotten face. 404 for a subject or face the client's gallery does not hold."""
    if not subject and face_id is None:
        raise BadRequest("Send the `subject` to forget, or one face by its `face` id.")
    with transaction.atomic():
        gallery = Gallery.objects.select_for_update().filter(client=client).first()
        if face_id is not None:
            face = Face.objects.select_related("subject").filter(pk=face_id, subject__gallery=gallery).first()
            if gallery is None or face is None or (subject and face.subject.name != subject):
                raise NotFound("No face with this id in your gallery.")
            row = face.subject
            if row.faces.count() > 1:
                face.delete()
                with _sealed_faces_checked():
                    _subject_rekey(row)
                gallery.record_change()
                Subject.objects.filter(pk=row.pk).update(changed_version=gallery.version)
                return Forgotten(subject=row.name, subjects=0, faces=1)
        else:
            found = Subject.objects.filter(gallery=gallery, name=subject).first() if gallery else None
            if gallery is None or found is None:
                raise NotFound(f"No subject {subject!r} in your gallery.")
            row = found
        name, subject_pk = row.name, row.pk
        deleted = row.faces.count()
        row.delete()
        gallery.record_change(removed_subject_ids=[subject_pk])
    return Forgotten(subject=name, subjects=1, faces=deleted)


@dataclass(frozen=True)
class Resealed:
    resealed: int  # subject keys wrapped again under the current token key
    unopenable: int  # wrapped under a key the server no longer has, or altered


def gallery_reseal(*, batch: int = 1000) -> Resealed:
    """Wraps again every subject key not wrapped under the current token key, so that a retired key
    can then be removed. Faces and metadata stay sealed under their subject's key: nothing else is
    rewritten, and no worker reloads anything."""
    current, wrappers = gallery_key_wrapper(), gallery_key_wrappers()
    resealed = unopenable = 0
    stale = (
        SubjectKey.objects.exclude(key_id=current.key_id)
        .order_by("pk")
        .values_list("pk", "subject__gallery_id", "wrapped_key", "key_id")
    )
    last = None
    while True:
        page = stale.filter(pk__gt=last) if last is not None else stale
        keys = list(page[:batch])
        if not keys:
            return Resealed(resealed, unopenable)
        last = keys[-1][0]
        with transaction.atomic():
            for subject_id, gallery_id, wrapped, key_id in keys:
                ids = {"gallery_id": gallery_id, "subject_id": subject_id}
                try:
                    sealer = open_subject_key(wrappers, bytes(wrapped), key_id, **ids)
                except SealBroken:
                    unopenable += 1
                    continue
                # Only the key as read: a subject given a new key meanwhile (a face forgotten) keeps it.
                SubjectKey.objects.filter(pk=subject_id, key_id=key_id, wrapped_key=bytes(wrapped)).update(
                    wrapped_key=wrap_subject_key(current, sealer, **ids), key_id=current.key_id
                )
                resealed += 1


@dataclass(frozen=True)
class FaceModelCount:
    model_name: str
    tokens: int  # identity tokens still usable (neither revoked nor expired)
    galleries: int
    gallery_faces: int


def face_models_count() -> list[FaceModelCount]:
    """What is still on each face model: usable identity tokens, galleries and their faces, by model,
    the server's FACENITION_MODEL first. What is on another model keeps being read by it until it is
    rotated, enrolled again, or forgotten."""
    from django.utils import timezone

    from enrollment.models import Enrollment

    tokens = dict(
        Enrollment.objects.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())
        .values_list("model_name")
        .annotate(count=Count("pk"))
        .order_by()
    )
    faces = dict(Face.objects.values_list("model_name").annotate(count=Count("pk")).order_by())
    galleries = dict(
        Gallery.objects.filter(subjects__isnull=False)
        .values_list("model_name")
        .annotate(count=Count("pk", distinct=True))
        .order_by()
    )
    models = sorted({settings.FACENITION_MODEL, *tokens, *faces}, key=lambda name: name != settings.FACENITION_MODEL)
    return [
        FaceModelCount(model, tokens.get(model, 0), galleries.get(model, 0), faces.get(model, 0)) for model in models
    ]
