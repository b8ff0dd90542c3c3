"""Galleries: 1:N identification (`/gallery/...`). Embeddings are stored, sealed under each subject's
key (`matching.gallery_keys`), for the clients who enroll people in a gallery; the search runs on
each worker's copy (`matching.gallery_index`). Photos are read through `matching.reading`."""

import logging
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Count

from credentials.models import Client, ClientToken
from facenition.errors import ApplicationError, BadRequest, Conflict, NotFound, UpstreamFailure

from .accuracy import (
    DEFAULT_ACCURACY,
    TARGET_FALSE_MATCH_RATES,
    identification_scoring,
    identification_threshold,
    largest_gallery,
    strictest_identifying_level,
)
from .gallery_index import gallery_search, gallery_size, gallery_snapshots_after_forget
from .gallery_keys import gallery_key_wrapper, gallery_key_wrappers, subject_sealer
from .models import Face, Gallery, Subject, SubjectKey
from .reading import (
    Box,
    DetectedFace,
    Embedding,
    Readable,
    face_quality_problem,
    faces_read,
    faces_read_every,
    photos_disagree,
    pipeline_config,
)
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

MAX_CANDIDATES = 10


def owner_of(credential: ClientToken) -> Client:
    """Who owns the gallery a request works on: the client whose credential (client token) it presents."""
    return credential.client


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
class EnrolledFace:
    id: uuid.UUID
    box: Box


@dataclass(frozen=True)
class EnrolledSubject:
    subject: Subject
    face_count: int
    added: list[EnrolledFace]


@dataclass(frozen=True)
class IdentifiedCandidate:
    subject: str
    max_accuracy: int  # the strictest level at which this subject is a match, scored 1:N


@dataclass(frozen=True)
class IdentifiedFace:
    box: Box
    candidates: list[IdentifiedCandidate]  # best first


@dataclass(frozen=True)
class Identification:
    accuracy: int
    gallery_subjects: int
    faces: list[IdentifiedFace]  # largest first

    @property
    def scoring(self) -> str:
        return identification_scoring(self.accuracy, self.gallery_subjects)


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
        problem = photos_disagree(
            readings, model=config.model_name, enrolled=np.mean(enrolled, axis=0) if enrolled else None
        )
        if problem:
            raise BadRequest(f"{problem}; send photos of this subject only.")
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
            added.append(EnrolledFace(face.id, reading.face.box))
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
        return Identification(accuracy, 0, [IdentifiedFace(face.box, []) for face in faces])
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
            face.box,
            [
                IdentifiedCandidate(c.subject, strictest_identifying_level(c.distance, subjects, model))
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
    face_count: int


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
            listed.append(ListedSubject(row, metadata, face_ids.get(row.pk, []), row.face_count))
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
                # Listed as removed too: a copy that held the subject's old row (its mean of the forgotten
                # face among others) drops it before taking the new one, and the host's snapshots go.
                gallery.record_change(removed_subject_ids=[row.pk])
                Subject.objects.filter(pk=row.pk).update(changed_version=gallery.version)
                _snapshots_removed_on_commit(gallery.pk)
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
        _snapshots_removed_on_commit(gallery.pk)
    return Forgotten(subject=name, subjects=1, faces=deleted)


def _snapshots_removed_on_commit(gallery_id: int) -> None:
    """Once the forget commits, this host keeps no snapshot of a version that holds the forgotten face
    (docs/galleries-erasure.md); the other hosts' workers drop theirs on their next request."""
    transaction.on_commit(lambda: gallery_snapshots_after_forget(gallery_id))


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
