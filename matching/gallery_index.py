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

One copy per host: with FACENITION_GALLERY_SNAPSHOT_DIR set, an exact index maps the gallery's
snapshot at its version (`matching.gallery_snapshots`), which the first worker of the host to need it
writes and the others open, instead of loading a copy of its own. What an enroll adds is applied in
place, on the worker's own copy-on-write pages of the mapping, as above. A removal (a subject or a
face forgotten) is not: the first worker of the host to see it writes the next version's snapshot
(the last one plus what changed since) and zeroes and removes every older one, so that no snapshot on
the host holds the forgotten face; the others map the new one on their next request.
"""

import hashlib
import itertools
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db import connection

from facenition.keyring import token_keyring

from . import gallery_snapshots as snapshots
from .gallery_keys import gallery_key_wrappers
from .models import Face, Gallery, Subject
from .sealing import EMBEDDING_DTYPE, Sealer, open_face, open_subject_key
from .search import DIMENSIONS, ExactIndex, IvfIndex, Neighbour

log = logging.getLogger("facenition.matching")

# A change this large (a share of the gallery's subjects) is cheaper to apply by reloading everything.
RELOAD_SHARE = 0.2
# Room to grow left in a loaded matrix, as a share of its subjects, before it is enlarged.
HEADROOM = 0.05
FETCH_CHUNK = 10_000
# Rows copied at a time from one snapshot into the next.
COPY_CHUNK = 8192
# How often a worker looks for the host's snapshots that a deletion or a forget elsewhere made stale.
SWEEP_SECONDS = 60


@dataclass
class LoadedGallery:
    version: int
    index: ExactIndex | IvfIndex
    # The host's snapshot that the index maps, if it maps one.
    snapshot: snapshots.Snapshot | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    full_loads: int = 0  # from PostgreSQL
    refreshes: int = 0  # by what changed: in place, or through the host's next snapshot
    wiped: bool = False

    def wipe(self) -> None:
        """Zeroes the copy before it is let go; call with `lock` held. A request that still holds it
        takes the gallery's current copy instead."""
        self._let_go()
        self.wiped = True

    def replace(self, fresh: "LoadedGallery") -> None:
        self._let_go()
        self.index, self.version, self.snapshot = fresh.index, fresh.version, fresh.snapshot
        self.full_loads += fresh.full_loads
        self.refreshes += 1 - fresh.full_loads

    def _let_go(self) -> None:
        self.index.wipe()
        if self.snapshot is not None:
            self.snapshot.close()
            self.snapshot = None


_galleries: "OrderedDict[int, LoadedGallery]" = OrderedDict()
_galleries_lock = threading.Lock()


def _index_kind(subject_count: int) -> str:
    if settings.FACENITION_GALLERY_INDEX == "ivf" and subject_count >= settings.FACENITION_GALLERY_IVF_MIN_SUBJECTS:
        return "ivf"
    return "exact"


def subject_centroids(
    gallery_id: int, faces, expected: int = 0, *, into: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(subject ids, matrix) from (face id, subject id, sealed, wrapped subject key, key id) rows in
    any order. Each subject's unit row is the mean of its faces' embeddings, summed straight into one
    float32 matrix sized for `expected` subjects and a little room to grow (or into `into`, zeros,
    while it has room): its first len(ids) rows are the subjects'. Faces are opened a chunk at a
    time, so no more than a chunk of them is held besides the matrix."""
    wrappers = gallery_key_wrappers()
    matrix = _Sums(expected, into)
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


def _capacity_for(subjects: int) -> int:
    return max(16, int(subjects * (1 + HEADROOM)))


def _chunks(rows, size: int):
    rows = iter(rows)
    while chunk := list(itertools.islice(rows, size)):
        yield chunk


class _Sums:
    """Per-subject sums of embeddings in a float32 matrix with room for `expected` subjects and
    HEADROOM more, one row per subject in the order first seen."""

    def __init__(self, expected: int, into: np.ndarray | None = None):
        self.rows = into if into is not None else np.zeros((_capacity_for(expected), DIMENSIONS), dtype=np.float32)
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
    """The gallery at its version: the host's snapshot when there is one to use or make, else a copy
    of this worker's own, from PostgreSQL."""
    expected = Subject.objects.filter(gallery=gallery).count()
    folder = _snapshot_folder() if _index_kind(expected) == "exact" else None
    if folder is not None:
        try:
            return _load_snapshot(folder, gallery, expected)
        except OSError as error:
            log.warning(
                "gallery %s: its snapshot cannot be used (%s); this worker loads a copy of its own", gallery.pk, error
            )
    return _load_private(gallery, expected)


def _load_private(gallery: Gallery, expected: int) -> LoadedGallery:
    subject_ids, rows = subject_centroids(gallery.pk, _face_rows(gallery.pk), expected)
    if _index_kind(len(subject_ids)) == "ivf":
        index: ExactIndex | IvfIndex = IvfIndex(subject_ids, rows[: len(subject_ids)])
        rows.fill(0)  # faiss holds its own copy
    else:
        index = ExactIndex.from_unit_rows(subject_ids, rows)
    return LoadedGallery(version=gallery.version, index=index, full_loads=1)


def _load_snapshot(folder, gallery: Gallery, expected: int) -> LoadedGallery:
    tag = snapshot_tag(gallery)
    full_loads = 0
    with snapshots.host_lock(folder, gallery.pk):
        try:
            snapshot = snapshots.snapshot_open(folder, gallery.pk, gallery.version, tag, _stamp(gallery))
            if snapshot is None:
                if not _snapshot_from_older(folder, gallery, tag):
                    _snapshot_from_database(folder, gallery, tag, expected)
                    full_loads = 1
                snapshot = snapshots.snapshot_open(folder, gallery.pk, gallery.version, tag, _stamp(gallery))
                if snapshot is None:
                    raise OSError("the snapshot just written does not open")
        finally:
            # Older versions are superseded, under any tag, whether or not the new one could be
            # written (a full folder): one may hold a forgotten face. Another tag's at this version
            # is left to the workers that made it (during a rolling restart onto a new token key,
            # the old ones): it holds the same subjects, and goes with the gallery's next change.
            snapshots.snapshots_remove(folder, gallery.pk, older_than=gallery.version)
    index = ExactIndex.on_rows(snapshot.ids, snapshot.rows, lookup=snapshot.lookup, mapped=True)
    return LoadedGallery(version=snapshot.version, index=index, snapshot=snapshot, full_loads=full_loads)


def _snapshot_from_database(folder, gallery: Gallery, tag: str, expected: int) -> None:
    """Sums the faces straight into the snapshot's matrix; into a copy of this worker's own only when
    subjects were added during the load beyond its room, then copied into a larger snapshot."""
    draft = snapshots.SnapshotDraft(folder, gallery.pk, gallery.version, tag, _stamp(gallery), _capacity_for(expected))
    try:
        subject_ids, rows = subject_centroids(gallery.pk, _face_rows(gallery.pk), expected, into=draft.rows)
        if rows is not draft.rows:
            draft.discard()
            draft = snapshots.SnapshotDraft(folder, gallery.pk, gallery.version, tag, _stamp(gallery), len(rows))
            for start in range(0, len(subject_ids), COPY_CHUNK):
                end = min(len(subject_ids), start + COPY_CHUNK)
                draft.rows[start:end] = rows[start:end]
            rows.fill(0)  # the snapshot holds them now
        draft.ids[: len(subject_ids)] = subject_ids
        draft.commit()
    except BaseException:
        draft.discard()
        raise


def _snapshot_from_older(folder, gallery: Gallery, tag: str) -> bool:
    """Writes the gallery's snapshot at its version from the newest older one of the host and what
    changed since, as a worker brings its copy up to date; False when there is none to start from,
    or so much changed that a load from PostgreSQL costs less."""
    older = next(
        (v for v, t, _ in snapshots.snapshot_versions(folder, gallery.pk) if t == tag and v < gallery.version), None
    )
    # Of this gallery's history only: after a database restored to an earlier point, a snapshot of a
    # version the restore undid carries another stamp than the one the gallery remembers for it.
    stamp = None if older is None else gallery.stamp_at(older)
    base = None if older is None or stamp is None else snapshots.snapshot_open(folder, gallery.pk, older, tag, stamp)
    if base is None:
        return False
    try:
        base_index = ExactIndex.on_rows(base.ids, base.rows, lookup=base.lookup)
        changes = _changes_since(gallery, base.version, len(base_index))
        if changes is None:
            return False
        removed, changed = changes
        added = sum(base_index.row_of(subject_id) is None for subject_id in changed)
        capacity = base_index.capacity
        if added > base_index.free_rows:
            capacity = max(capacity, int((len(base_index) + added) * (1 + HEADROOM)) + 16)
        draft = snapshots.SnapshotDraft(folder, gallery.pk, gallery.version, tag, _stamp(gallery), capacity)
        try:
            with base.reading():  # no worker zeroes it meanwhile (the sweep may, without the host lock)
                if not base.live():
                    draft.discard()
                    return False
                draft.ids[: base_index.capacity] = base.ids
                for start in range(0, base_index.capacity, COPY_CHUNK):
                    if (base.ids[start : start + COPY_CHUNK] >= 0).any():  # free rows stay holes
                        draft.rows[start : start + COPY_CHUNK] = base.rows[start : start + COPY_CHUNK]
            _apply_changes(ExactIndex.on_rows(draft.ids, draft.rows), gallery, removed, changed)
            draft.commit()
        except BaseException:
            draft.discard()
            raise
        return True
    finally:
        base.close()


def _changes_since(gallery: Gallery, version: int, held: int) -> tuple[list[int], list[int]] | None:
    """(subjects removed, subjects changed) since `version`; None when only a full reload can tell,
    or would cost less."""
    removed = gallery.removals_since(version)
    if removed is None:
        return None
    changed = list(Subject.objects.filter(gallery=gallery, changed_version__gt=version).values_list("id", flat=True))
    if len(changed) + len(removed) > RELOAD_SHARE * max(held, 1) and len(changed) + len(removed) > 100:
        return None
    return removed, changed


def _apply_changes(index: ExactIndex | IvfIndex, gallery: Gallery, removed: list[int], changed: list[int]) -> None:
    for subject_id in removed:
        index.remove(subject_id)
    if changed:
        subject_ids, rows = subject_centroids(gallery.pk, _face_rows(gallery.pk, changed), len(changed))
        for subject_id, row in zip(subject_ids.tolist(), rows, strict=False):
            index.upsert(subject_id, row)
        rows.fill(0)  # copied into the index
        for subject_id in set(changed) - set(subject_ids.tolist()):  # changed to no faces at all
            index.remove(subject_id)


def _refresh(loaded: LoadedGallery, gallery: Gallery) -> bool:
    """Applies the changes since `loaded.version` in place; False when only a full reload can, or,
    on a snapshot, when a subject was removed (the host's snapshots must then go) or the mapping
    has no room left for the new subjects."""
    changes = _changes_since(gallery, loaded.version, len(loaded.index))
    if changes is None:
        return False
    removed, changed = changes
    if loaded.snapshot is not None:
        index = loaded.index
        assert isinstance(index, ExactIndex)
        if removed or sum(index.row_of(subject_id) is None for subject_id in changed) > index.free_rows:
            return False
    _apply_changes(loaded.index, gallery, removed, changed)
    loaded.version = gallery.version
    loaded.refreshes += 1
    return True


def _stamp(gallery: Gallery) -> str:
    return gallery.stamp_at(gallery.version) or ""


def snapshot_tag(gallery: Gallery) -> str:
    """What a snapshot of the gallery is trusted under: the current token key's id, in clear, and a
    digest of every token key the server holds, the database and the gallery row's creation time, so
    that a snapshot is never used after a key rotation or a key's retirement, nor for a gallery of
    another database (or one made again) that has the same id and version."""
    keyring = token_keyring()
    database = connection.settings_dict
    held = "|".join(sorted(key.key_id.hex() for key in keyring.keys))
    origin = f"{held}|{database['HOST']}:{database['PORT']}/{database['NAME']}|{gallery.created_at.isoformat()}"
    return f"k{keyring.current.key_id.hex()}-{hashlib.sha256(origin.encode()).hexdigest()[:16]}"


_folder_checked: dict[str, bool] = {}


def _snapshot_folder():
    """The host's snapshot folder, or None when snapshots are off or the folder cannot hold them (a
    warning says why, once: each worker then loads copies of its own)."""
    configured = settings.FACENITION_GALLERY_SNAPSHOT_DIR
    if not configured:
        return None
    from pathlib import Path

    folder = Path(configured)
    usable = _folder_checked.get(configured)
    if usable is None:
        problem = snapshots.snapshot_folder_problem(folder)
        if problem:
            log.warning(
                "FACENITION_GALLERY_SNAPSHOT_DIR=%s cannot hold gallery snapshots: %s; each worker loads copies of its own",
                configured,
                problem,
            )
        usable = _folder_checked[configured] = problem is None
    return folder if usable else None


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
    superseded = loaded.snapshot is not None and not loaded.snapshot.live()
    if superseded or (loaded.version < gallery.version and not _refresh(loaded, gallery)):
        loaded.replace(_load(gallery))


@contextmanager
def _up_to_date(gallery: Gallery) -> Iterator[LoadedGallery]:
    """This worker's copy of the gallery at `gallery.version`, locked while the caller reads it (and
    its snapshot, if it maps one, held so that no worker removes it meanwhile)."""
    while True:
        loaded = _current(gallery)
        with loaded.lock:
            if loaded.wiped:  # evicted while this request waited for it
                continue
            while True:
                _bring_up_to_date(loaded, gallery)
                snapshot = loaded.snapshot
                if snapshot is None:
                    yield loaded
                    return
                with snapshot.reading():
                    if snapshot.live():  # else removed since: the next turn maps the newer one
                        yield loaded
                        return


def gallery_size(gallery: Gallery) -> int:
    """How many subjects the gallery holds at `gallery.version`, as this worker's copy says."""
    _sweep_now_and_then()
    with _up_to_date(gallery) as loaded:
        return len(loaded.index)


def gallery_search(gallery: Gallery, probes: list[np.ndarray], k: int) -> tuple[int, list[list[Neighbour]]]:
    """(subjects in the gallery, the k nearest subjects of each probe), on this worker's copy of the
    gallery brought up to `gallery.version` (read by the caller in this request)."""
    _sweep_now_and_then()
    with _up_to_date(gallery) as loaded:
        return len(loaded.index), [loaded.index.search(probe, k) for probe in probes]


def gallery_forget_cached(gallery_id: int) -> None:
    """Drops this worker's copy of a gallery, zeroed (its client was deleted, or a test wants a cold start)."""
    with _galleries_lock:
        dropped = _galleries.pop(gallery_id, None)
    if dropped is not None:
        with dropped.lock:
            dropped.wipe()


def gallery_snapshots_after_forget(gallery_id: int) -> None:
    """After a forget commits: the host's snapshots of the gallery that hold the forgotten face are
    zeroed and removed at once, the newest one first carried forward to the gallery's new version
    (when the host has one to start from), so that the host's workers need not reload it."""
    try:
        folder = _snapshot_folder()
        if folder is None or not snapshots.snapshot_versions(folder, gallery_id):
            return
        gallery = Gallery.objects.filter(pk=gallery_id).first()
        if gallery is None:
            gallery_snapshots_deleted(gallery_id)
        else:
            _carry_forward(folder, gallery)
    except Exception:  # the forget is committed: its answer stands; the next request or sweep retries
        log.exception("gallery %s: after a forget, its snapshots could not all be carried forward", gallery_id)


def _carry_forward(folder, gallery: Gallery, *, wait: bool = True) -> None:
    """The gallery's snapshot at its version made from the newest older one, and the older ones removed."""
    tag = snapshot_tag(gallery)
    with snapshots.host_lock(folder, gallery.pk, wait=wait):
        try:
            if not any(
                v == gallery.version and t == tag for v, t, _ in snapshots.snapshot_versions(folder, gallery.pk)
            ):
                _snapshot_from_older(folder, gallery, tag)
        finally:  # whatever became of the new one (a full folder, a face that does not open)
            snapshots.snapshots_remove(folder, gallery.pk, older_than=gallery.version)


def gallery_snapshots_deleted(gallery_id: int) -> None:
    """After a gallery is deleted (with its client): this worker's copy and the host's snapshots go."""
    gallery_forget_cached(gallery_id)
    folder = _snapshot_folder()
    if folder is not None:
        snapshots.snapshots_remove(folder, gallery_id)


def gallery_snapshots_sweep() -> int:
    """Zeroes and removes the host's snapshots of galleries deleted since, and those that hold a
    subject removed since (a forget made on another host, for a gallery no worker here has searched
    since), carrying the newest forward; how many galleries were swept. A gallery another worker is
    writing a snapshot of is left to it."""
    folder = _snapshot_folder()
    if folder is None:
        return 0
    on_host = snapshots.snapshot_galleries(folder)
    galleries = {gallery.pk: gallery for gallery in Gallery.objects.filter(pk__in=on_host)}
    swept = 0
    for gallery_id in on_host:
        gallery = galleries.get(gallery_id)
        try:
            if gallery is None:
                with snapshots.host_lock(folder, gallery_id, wait=False):
                    snapshots.snapshots_remove(folder, gallery_id)
            elif snapshots.snapshot_drafts_left(folder, gallery_id) or any(
                gallery.removals_since(v) != [] for v, _, _ in snapshots.snapshot_versions(folder, gallery_id)
            ):
                _carry_forward(folder, gallery, wait=False)
            else:
                continue
        except BlockingIOError:
            continue
        except Exception:  # its older snapshots went all the same; the other galleries are swept
            log.exception("gallery %s: its snapshot could not be carried forward by the sweep", gallery_id)
        swept += 1
    return swept


_last_sweep = [float("-inf")]


def _sweep_now_and_then() -> None:
    """Sweeps the host's snapshots on a worker's first gallery request, then at most every SWEEP_SECONDS."""
    now = time.monotonic()
    if now - _last_sweep[0] < SWEEP_SECONDS:
        return
    _last_sweep[0] = now
    try:
        gallery_snapshots_sweep()
    except Exception:  # a request is not failed for it: the next sweep retries
        log.exception("gallery snapshots could not be swept")


def cached_gallery(gallery_id: int) -> LoadedGallery | None:
    """This worker's copy of a gallery, if it holds one (for the benchmark and the tests)."""
    with _galleries_lock:
        return _galleries.get(gallery_id)
