"""Nearest subjects in a gallery: one float32 matrix of unit vectors per gallery, one row per subject.

Django-free. A subject's row is the mean of its faces' embeddings scaled to unit length, which is
what /match compares when it is given several reference photos, so the cosine distance of a probe
to a row is /match's distance and the level table means the same here.

`ExactIndex` is one matrix-vector product over every row (numpy, BLAS): a 1M-row gallery takes tens
of milliseconds on one core. `IvfIndex` (faiss-cpu's IndexIVFFlat, inner product) scans a small
part of a very large gallery instead; it holds the same float32 rows, returns exact distances for
what it scans, and may miss a nearest row (its recall is measured by bench.gallery).
Both take changes in place: a worker applies what changed in a gallery without reloading it.

A row is a face, near enough: both zero the memory of a row they drop (a subject removed, a matrix
outgrown, a whole index wiped) and of the copies they make, so that memory freed to the allocator
does not keep a forgotten subject's face.
"""

import mmap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

DIMENSIONS = 128
# The approximate index: about 2·√N groups (at most IVF_MAX_LISTS), k-means trained on at most
# IVF_TRAINING_ROWS_PER_LIST rows per group, and a search scanning 1/64 of the groups, at least IVF_MIN_PROBES.
IVF_MAX_LISTS = 4096
IVF_TRAINING_ROWS_PER_LIST = 64
IVF_MIN_PROBES = 16


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """float32 rows scaled to unit length (a zero row stays zero)."""
    rows = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=-1, keepdims=True)
    return rows / np.where(norms == 0, 1, norms)


def _to_unit_length(rows: np.ndarray) -> None:
    """Scales float32 rows (or one row) to unit length where they are, leaving no copy of them."""
    norms = np.sqrt(np.einsum("...j,...j->...", rows, rows))[..., None]
    np.divide(rows, np.where(norms == 0, 1, norms), out=rows)


@dataclass(frozen=True)
class Neighbour:
    subject_id: int
    distance: float  # cosine distance, as /match computes it


def _zero_own_pages(rows: np.ndarray, written: set[int]) -> None:
    """Zeroes, in a copy-on-write mapping, every page that writing `written` rows made this process's
    own: the whole page was copied, the neighbours' rows with it. The other pages are the file's."""
    if not written:
        return
    if not rows.flags.c_contiguous:  # not a mapping's rows
        rows[sorted(written)] = 0
        return
    page = mmap.PAGESIZE
    start = rows.__array_interface__["data"][0]
    row_bytes = rows.strides[0]
    flat = rows.reshape(-1).view(np.uint8)
    zeroed: set[int] = set()
    for row in written:
        first, last = (start + row * row_bytes) // page, (start + (row + 1) * row_bytes - 1) // page
        for number in range(first, last + 1):
            if number not in zeroed:
                zeroed.add(number)
                flat[max(0, number * page - start) : max(0, (number + 1) * page - start)] = 0


class ExactIndex:
    """Rows in one preallocated float32 matrix; a removed subject's row is zeroed and reused.

    A subject's row is found by binary search in `lookup` (the subject ids in order, and their
    rows), made when the matrix is adopted, and in a small dict of the subjects placed since: numpy
    arrays of 16 bytes a subject rather than a Python dict of about 80. The matrix may be a private
    copy-on-write mapping of a gallery snapshot (`matching.gallery_snapshots`) that other workers
    map too; the rows this index writes are then its own pages, zeroed by `wipe`, and the rest are
    the snapshot's, which it never writes."""

    kind = "exact"

    def __init__(self, subject_ids: np.ndarray, vectors: np.ndarray, *, headroom: float = 0.05):
        count = len(subject_ids)
        buffer = np.zeros((max(count + 16, int(count * (1 + headroom))), DIMENSIONS), dtype=np.float32)
        if count:
            buffer[:count] = vectors
            _to_unit_length(buffer[:count])
        self._adopt(_ids_of_rows(subject_ids, len(buffer)), buffer)

    @classmethod
    def from_unit_rows(cls, subject_ids: np.ndarray, buffer: np.ndarray) -> "ExactIndex":
        """An index that takes `buffer` as its matrix, without a copy: its first len(subject_ids)
        rows are those subjects' unit rows, the rest room to grow."""
        return cls.on_rows(_ids_of_rows(subject_ids, len(buffer)), buffer)

    @classmethod
    def on_rows(
        cls,
        ids: np.ndarray,
        rows: np.ndarray,
        *,
        lookup: tuple[np.ndarray, np.ndarray] | None = None,
        mapped: bool = False,
    ) -> "ExactIndex":
        """An index on `rows` as they are, without a copy: `ids[i]` is the subject of row i, -1 a
        free row. `lookup` is `row_lookup(ids)` when already made; `mapped` says that the rows are a
        copy-on-write mapping shared with other workers, which `wipe` leaves alone but for the rows
        this index wrote."""
        index = cls.__new__(cls)
        index._adopt(ids, rows, lookup=lookup, mapped=mapped)
        return index

    def _adopt(
        self,
        ids: np.ndarray,
        buffer: np.ndarray,
        *,
        lookup: tuple[np.ndarray, np.ndarray] | None = None,
        mapped: bool = False,
    ) -> None:
        self._rows = buffer
        self._ids = ids
        self._sorted_ids, self._sorted_rows = lookup if lookup is not None else row_lookup(ids)
        self._placed: dict[int, int] = {}  # subjects given a row since the lookup was made
        self._count = len(self._sorted_ids)
        self._free: list[int] | None = None  # found when first needed
        self.mapped = mapped
        self._written: set[int] = set()  # rows written in a shared mapping: this process's own pages

    def __len__(self) -> int:
        return self._count

    @property
    def capacity(self) -> int:
        return len(self._ids)

    @property
    def free_rows(self) -> int:
        return self.capacity - self._count

    @property
    def nbytes(self) -> int:
        return self._rows.nbytes + self._ids.nbytes + self._sorted_ids.nbytes + self._sorted_rows.nbytes

    def live(self) -> tuple[np.ndarray, np.ndarray]:
        """(subject ids, unit rows) of every subject held: copies, in row order."""
        held = self._ids >= 0
        return self._ids[held], self._rows[held]

    def row_of(self, subject_id: int) -> int | None:
        row = self._placed.get(subject_id)
        if row is not None:
            return row
        at = int(np.searchsorted(self._sorted_ids, subject_id))
        if at < len(self._sorted_ids) and self._sorted_ids[at] == subject_id:
            row = int(self._sorted_rows[at])
            if self._ids[row] == subject_id:  # not removed since, nor its row given to another
                return row
        return None

    def upsert(self, subject_id: int, vector: np.ndarray) -> None:
        row = self.row_of(subject_id)
        if row is None:
            free = self._free_rows()
            if not free:
                self._grow()
                free = self._free_rows()
            row = free.pop()
            self._placed[subject_id] = row
            self._ids[row] = subject_id
            self._count += 1
        self._rows[row] = vector
        _to_unit_length(self._rows[row])
        if self.mapped:
            self._written.add(row)

    def remove(self, subject_id: int) -> None:
        row = self.row_of(subject_id)
        if row is not None:
            free = self._free_rows()  # found before this row joins them
            self._placed.pop(subject_id, None)
            self._rows[row] = 0
            self._ids[row] = -1
            free.append(row)
            self._count -= 1
            if self.mapped:
                self._written.add(row)

    def _free_rows(self) -> list[int]:
        if self._free is None:
            self._free = np.flatnonzero(self._ids < 0)[::-1].tolist()
        return self._free

    def wipe(self) -> None:
        """Zeroes every row and forgets every subject: the index is empty, its memory holds no face.
        On a shared mapping, only the rows this index wrote (its own pages) are zeroed: the others
        are the snapshot's, zeroed when the snapshot is removed, and the mapping is let go of."""
        if self.mapped:
            _zero_own_pages(self._rows, self._written)
            self._adopt(np.empty(0, dtype=np.int64), np.zeros((0, DIMENSIONS), dtype=np.float32))
            return
        self._rows.fill(0)
        self._ids.fill(-1)
        self._adopt(self._ids, self._rows)

    def _grow(self) -> None:
        old = len(self._ids)
        extra = max(16, old // 4)
        outgrown, self._rows = self._rows, np.vstack([self._rows, np.zeros((extra, DIMENSIONS), dtype=np.float32)])
        if self.mapped:  # the copy is this process's own from now on
            _zero_own_pages(outgrown, self._written)
            self.mapped, self._written = False, set()
        else:
            outgrown.fill(0)
        self._ids = np.concatenate([self._ids, np.full(extra, -1, dtype=np.int64)])
        self._free_rows().extend(range(old + extra - 1, old - 1, -1))

    def search(self, probe: np.ndarray, k: int) -> list[Neighbour]:
        if not self._count:
            return []
        similarity = self._rows @ unit_rows(probe)
        if k == 1:
            best = np.array([np.argmax(similarity)])
        else:
            k = min(k, len(similarity))
            best = np.argpartition(similarity, len(similarity) - k)[len(similarity) - k :]
            best = best[np.argsort(-similarity[best], kind="stable")]
        # A free row scores 0: it can only come up when no subject is nearer than a right angle.
        return [Neighbour(int(self._ids[row]), float(1.0 - similarity[row])) for row in best if self._ids[row] >= 0]


def _ids_of_rows(subject_ids: np.ndarray, capacity: int) -> np.ndarray:
    ids = np.full(capacity, -1, dtype=np.int64)
    ids[: len(subject_ids)] = subject_ids
    return ids


def row_lookup(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the subject ids held, in order; the row of each): how an index finds a subject's row."""
    rows = np.flatnonzero(ids >= 0)
    order = np.argsort(ids[rows], kind="stable")
    return ids[rows][order], rows[order]


class IvfIndex:
    """faiss's inverted-file index (IndexIVFFlat, inner product): rows are grouped around
    `lists` centroids found by k-means, and a search scans only the `probes` groups nearest the
    probe. It holds the same float32 rows plus their ids (8 bytes each) and the centroids, returns
    exact distances for the rows it scans, and takes removals and additions in place.

    Chosen over HNSW after measuring both (docs/decisions.md §8): a face lies in the group of its own
    subject's row, however the other rows spread, while HNSW's greedy walk got lost among a million
    random distractors (recall 0.19) and its graph costs 29% more memory."""

    kind = "ivf"

    def __init__(self, subject_ids: np.ndarray, vectors: np.ndarray, *, probes: int | None = None):
        import faiss  # only a server that asks for the approximate index loads it

        rows = np.ascontiguousarray(unit_rows(vectors), dtype=np.float32)
        count = len(rows)
        self.lists = max(1, min(IVF_MAX_LISTS, int(2 * np.sqrt(count)), count))
        self.probes = min(self.lists, probes or max(IVF_MIN_PROBES, self.lists // 64))
        self._faiss = faiss
        self._index = faiss.IndexIVFFlat(
            faiss.IndexFlatIP(DIMENSIONS), DIMENSIONS, self.lists, faiss.METRIC_INNER_PRODUCT
        )
        sample = (
            rows
            if count <= IVF_TRAINING_ROWS_PER_LIST * self.lists
            else rows[_sample(count, IVF_TRAINING_ROWS_PER_LIST * self.lists)]
        )
        if count:
            self._index.train(sample)
            self._index.add_with_ids(rows, np.asarray(subject_ids, dtype=np.int64))
        # faiss holds its own copies: these are freed.
        sample.fill(0)
        rows.fill(0)
        self._index.nprobe = self.probes
        self._held = {int(pk) for pk in np.asarray(subject_ids).tolist()}

    def __len__(self) -> int:
        return len(self._held)

    @property
    def nbytes(self) -> int:
        return self._index.ntotal * (DIMENSIONS * 4 + 8) + self.lists * DIMENSIONS * 4

    def upsert(self, subject_id: int, vector: np.ndarray) -> None:
        self.remove(subject_id)
        row = unit_rows(vector).reshape(1, DIMENSIONS)
        self._index.add_with_ids(row, np.array([subject_id], dtype=np.int64))
        row.fill(0)
        self._held.add(subject_id)

    def remove(self, subject_id: int) -> None:
        if subject_id in self._held:
            # faiss moves its group's last row into the removed row's place and shortens the group
            # without clearing what lay past its new end: the removed row may be that one.
            self._zero_rows(lambda ids: ids == subject_id)
            # faiss's Python layer takes an array of ids here; its type hints name only the C++ IDSelector.
            self._index.remove_ids(np.array([subject_id], dtype=np.int64))  # type: ignore[arg-type]
            self._held.discard(subject_id)

    def wipe(self) -> None:
        """Zeroes every row and removes them all: the index is empty, its memory holds no face."""
        self._zero_rows(lambda ids: slice(None))
        self._index.reset()
        self._held.clear()

    def _zero_rows(self, which: Callable[[np.ndarray], Any]) -> None:
        """Zeroes, in every group, the stored rows `which(ids of the group)` picks."""
        lists, rev = self._index.invlists, self._faiss.rev_swig_ptr
        if lists is None:
            return
        for number in range(self.lists):
            size = lists.list_size(number)
            if size:
                picked = which(rev(lists.get_ids(number), size))
                rows = rev(lists.get_codes(number), size * lists.code_size).reshape(size, lists.code_size)
                rows[picked] = 0

    def search(self, probe: np.ndarray, k: int) -> list[Neighbour]:
        if not self._held:
            return []
        similarity, ids = self._index.search(unit_rows(probe).reshape(1, DIMENSIONS), k)
        return [
            Neighbour(int(pk), float(1.0 - score)) for score, pk in zip(similarity[0], ids[0], strict=True) if pk >= 0
        ]


def _sample(count: int, size: int) -> np.ndarray:
    return np.sort(np.random.default_rng(0).choice(count, size=size, replace=False))


def build_index(kind: str, subject_ids: np.ndarray, vectors: np.ndarray) -> ExactIndex | IvfIndex:
    if kind == "ivf":
        return IvfIndex(subject_ids, vectors)
    return ExactIndex(subject_ids, vectors)
