"""Each worker's copy of the galleries it searches: one index per gallery (`matching.search`), loaded
from PostgreSQL on first use and kept fresh by the gallery's version.

Every change to a gallery bumps `Gallery.version` in the change's own transaction. A request reads
the gallery row anyway (it is how ownership is checked), so a worker compares versions at no extra
cost: equal, it searches what it holds; behind, it fetches only the subjects changed since its
version (`Subject.changed_version`) and drops those the gallery lists as removed since then. Only a
worker that is new to the gallery, or so far behind that the gallery no longer lists every removal,
reloads it whole. Another gallery's change never touches this one.

A forgotten subject's row is zeroed where it lies, and a copy this worker lets go of (replaced by a
reload, outgrown, or evicted) is zeroed first: memory the worker frees keeps no forgotten face.
"""

import itertools
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings

from .gallery_keys import gallery_key_wrappers
from .models import Face, Gallery, Subject
from .sealing import EMBEDDING_DTYPE, Sealer, open_face, open_subject_key
from .search import DIMENSIONS, ExactIndex, IvfIndex, Neighbour

# A change this large (a share of the gallery's subjects) is cheaper to apply by reloading everything.
RELOAD_SHARE = 0.2
# Room to grow left in a loaded matrix, as a share of its subjects, before it is enlarged.
HEADROOM = 0.05
FETCH_CHUNK = 10_000


@dataclass
class LoadedGallery:
    version: int
    index: ExactIndex | IvfIndex
    lock: threading.Lock = field(default_factory=threading.Lock)
    full_loads: int = 0
    refreshes: int = 0
    wiped: bool = False

    def wipe(self) -> None:
        """Zeroes the copy before it is let go; call with `lock` held. A request that still holds it
        takes the gallery's current copy instead."""
        self.index.wipe()
        self.wiped = True


_galleries: "OrderedDict[int, LoadedGallery]" = OrderedDict()
_galleries_lock = threading.Lock()


def _index_kind(subject_count: int) -> str:
    if settings.FACENITION_GALLERY_INDEX == "ivf" and subject_count >= settings.FACENITION_GALLERY_IVF_MIN_SUBJECTS:
        return "ivf"
    return "exact"


def subject_centroids(gallery_id: int, faces, expected: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(subject ids, matrix) from (face id, subject id, sealed, wrapped subject key, key id) rows in
    any order. Each subject's unit row is the mean of its faces' embeddings, summed straight into one
    float32 matrix sized for `expected` subjects and a little room to grow: its first len(ids) rows
    are the subjects'. Faces are opened a chunk at a time, so no more than a chunk of them is held
    besides the matrix."""
    wrappers = gallery_key_wrappers()
    matrix = _Sums(expected)
    for chunk in _chunks(faces, FETCH_CHUNK):
        sealers: dict[int, Sealer] = {}  # each subject's key is unwrapped once a chunk
        plain = b"".join(
            open_face(
                _sealer_of(sealers, wrappers, gallery_id, row[1], row[3], row[4]),
                row[2],
                gallery_id=gallery_id,
                subject_id=row[1],
                face_id=row[0],
            )
            for row in chunk
        )
        matrix.add(
            [row[1] for row in chunk], np.frombuffer(plain, dtype=EMBEDDING_DTYPE).reshape(len(chunk), DIMENSIONS)
        )
    return matrix.means()


def _sealer_of(
    sealers: dict[int, Sealer], wrappers, gallery_id: int, subject_id: int, wrapped: bytes | None, key_id: str | None
) -> Sealer:
    sealer = sealers.get(subject_id)
    if sealer is None:
        sealer = sealers[subject_id] = open_subject_key(
            wrappers,
            None if wrapped is None else bytes(wrapped),
            key_id or "",
            gallery_id=gallery_id,
            subject_id=subject_id,
        )
    return sealer


def _chunks(rows, size: int):
    rows = iter(rows)
    while chunk := list(itertools.islice(rows, size)):
        yield chunk


class _Sums:
    """Per-subject sums of embeddings in a float32 matrix with room for `expected` subjects and
    HEADROOM more, one row per subject in the order first seen."""

    def __init__(self, expected: int):
        self.rows = np.zeros((max(16, int(expected * (1 + HEADROOM))), DIMENSIONS), dtype=np.float32)
        self.counts = np.zeros(len(self.rows), dtype=np.int32)
        self.row_of: dict[int, int] = {}

    def add(self, subject_ids: list[int], vectors: np.ndarray) -> None:
        rows = np.fromiter((self._row(pk) for pk in subject_ids), dtype=np.int64, count=len(subject_ids))
        np.add.at(self.rows, rows, vectors)
        np.add.at(self.counts, rows, 1)

    def _row(self, subject_id: int) -> int:
        row = self.row_of.get(subject_id)
        if row is None:
            row = self.row_of[subject_id] = len(self.row_of)
            if row == len(self.rows):  # subjects were added since they were counted
                extra = max(16, len(self.rows) // 4)
                old, self.rows = self.rows, np.vstack([self.rows, np.zeros((extra, DIMENSIONS), dtype=np.float32)])
                old.fill(0)  # the memory freed with it holds no face
                self.counts = np.concatenate([self.counts, np.zeros(extra, dtype=np.int32)])
        return row

    def means(self) -> tuple[np.ndarray, np.ndarray]:
        count = len(self.row_of)
        held = self.rows[:count]
        # The mean's direction is the sum's. einsum, unlike norm(), makes no temporary copy of the matrix.
        norms = np.sqrt(np.einsum("ij,ij->i", held, held))[:, None]
        np.divide(held, np.where(norms == 0, 1, norms), out=held)
        return np.fromiter(self.row_of, dtype=np.int64, count=count), self.rows


def _face_rows(gallery_id: int, subject_ids=None):
    faces = Face.objects.filter(subject__gallery_id=gallery_id)
    if subject_ids is not None:
        faces = faces.filter(subject_id__in=subject_ids)
    # In no particular order: sorting a million sealed rows would cost PostgreSQL more than the sums cost here.
    # Each face comes with its subject's wrapped key in the same statement, so both are of one snapshot:
    # a subject given a new key meanwhile (one of its faces forgotten) never pairs old faces with the new key.
    return (
        faces.order_by()
        .values_list("id", "subject_id", "sealed_embedding", "subject__key__wrapped_key", "subject__key__key_id")
        .iterator(chunk_size=FETCH_CHUNK)
    )


def _load(gallery: Gallery) -> LoadedGallery:
    expected = Subject.objects.filter(gallery=gallery).count()
    subject_ids, rows = subject_centroids(gallery.pk, _face_rows(gallery.pk), expected)
    if _index_kind(len(subject_ids)) == "ivf":
        index: ExactIndex | IvfIndex = IvfIndex(subject_ids, rows[: len(subject_ids)])
        rows.fill(0)  # faiss holds its own copy
    else:
        index = ExactIndex.from_unit_rows(subject_ids, rows)
    return LoadedGallery(version=gallery.version, index=index, full_loads=1)


def _refresh(loaded: LoadedGallery, gallery: Gallery) -> bool:
    """Applies the changes since `loaded.version`; False when only a full reload can."""
    removed = gallery.removals_since(loaded.version)
    if removed is None:
        return False
    changed = list(
        Subject.objects.filter(gallery=gallery, changed_version__gt=loaded.version).values_list("id", flat=True)
    )
    if len(changed) + len(removed) > RELOAD_SHARE * max(len(loaded.index), 1) and len(changed) + len(removed) > 100:
        return False
    for subject_id in removed:
        loaded.index.remove(subject_id)
    if changed:
        subject_ids, rows = subject_centroids(gallery.pk, _face_rows(gallery.pk, changed), len(changed))
        for subject_id, row in zip(subject_ids.tolist(), rows, strict=False):
            loaded.index.upsert(subject_id, row)
        rows.fill(0)  # copied into the index
        for subject_id in set(changed) - set(subject_ids.tolist()):  # changed to no faces at all
            loaded.index.remove(subject_id)
    loaded.version = gallery.version
    loaded.refreshes += 1
    return True


def _slot(gallery: Gallery) -> LoadedGallery | None:
    with _galleries_lock:
        loaded = _galleries.get(gallery.pk)
        if loaded is not None:
            _galleries.move_to_end(gallery.pk)
        return loaded


def _keep(gallery: Gallery, loaded: LoadedGallery) -> LoadedGallery:
    evicted = []
    with _galleries_lock:
        kept = _galleries.setdefault(gallery.pk, loaded)
        _galleries.move_to_end(gallery.pk)
        while len(_galleries) > settings.FACENITION_GALLERY_CACHE_GALLERIES:
            evicted.append(_galleries.popitem(last=False)[1])
    if kept is not loaded:  # another request loaded it first
        evicted.append(loaded)
    for dropped in evicted:
        with dropped.lock:
            dropped.wipe()
    return kept


def _current(gallery: Gallery) -> LoadedGallery:
    loaded = _slot(gallery)
    if loaded is None:
        return _keep(gallery, _load(gallery))
    return loaded


def _bring_up_to_date(loaded: LoadedGallery, gallery: Gallery) -> None:
    """Call with `loaded.lock` held."""
    if loaded.version < gallery.version and not _refresh(loaded, gallery):
        fresh = _load(gallery)
        replaced, loaded.index, loaded.version = loaded.index, fresh.index, fresh.version
        replaced.wipe()
        loaded.full_loads += 1


@contextmanager
def _up_to_date(gallery: Gallery) -> Iterator[LoadedGallery]:
    """This worker's copy of the gallery at `gallery.version`, locked while the caller reads it."""
    while True:
        loaded = _current(gallery)
        with loaded.lock:
            if loaded.wiped:  # evicted while this request waited for it
                continue
            _bring_up_to_date(loaded, gallery)
            yield loaded
            return


def gallery_size(gallery: Gallery) -> int:
    """How many subjects the gallery holds at `gallery.version`, as this worker's copy says."""
    with _up_to_date(gallery) as loaded:
        return len(loaded.index)


def gallery_search(gallery: Gallery, probes: list[np.ndarray], k: int) -> tuple[int, list[list[Neighbour]]]:
    """(subjects in the gallery, the k nearest subjects of each probe), on this worker's copy of the
    gallery brought up to `gallery.version` (read by the caller in this request)."""
    with _up_to_date(gallery) as loaded:
        return len(loaded.index), [loaded.index.search(probe, k) for probe in probes]


def gallery_forget_cached(gallery_id: int) -> None:
    """Drops this worker's copy of a gallery, zeroed (its client was deleted, or a test wants a cold start)."""
    with _galleries_lock:
        dropped = _galleries.pop(gallery_id, None)
    if dropped is not None:
        with dropped.lock:
            dropped.wipe()


def cached_gallery(gallery_id: int) -> LoadedGallery | None:
    """This worker's copy of a gallery, if it holds one (for the benchmark and the tests)."""
    with _galleries_lock:
        return _galleries.get(gallery_id)
