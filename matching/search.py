"""Nearest subjects in a gallery: one float32 matrix of unit vectors per gallery, one row per subject.

Django-free. A subject's row is the mean of its faces' embeddings scaled to unit length, which is
what /match compares when it is given several reference photos, so the cosine distance of a probe
to a row is /match's distance and the level table means the same here.

`ExactIndex` is one matrix-vector product over every row (numpy, BLAS): a 1M-row gallery takes tens
of milliseconds on one core. `HnswIndex` (faiss-cpu's IndexHNSWFlat, inner product) visits a small
part of a very large gallery instead; it holds the same float32 rows plus its graph, returns exact
distances for what it finds, and may miss a nearest row (its recall is measured by bench.gallery).
Both take changes in place: a worker applies what changed in a gallery without reloading it.
"""

from dataclasses import dataclass

import numpy as np

DIMENSIONS = 128


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """float32 rows scaled to unit length (a zero row stays zero)."""
    rows = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=-1, keepdims=True)
    return rows / np.where(norms == 0, 1, norms)


@dataclass(frozen=True)
class Neighbour:
    subject_id: int
    distance: float  # cosine distance, as /match computes it


class ExactIndex:
    """Rows in one preallocated float32 matrix; a removed subject's row is zeroed and reused."""

    kind = "exact"

    def __init__(self, subject_ids: np.ndarray, vectors: np.ndarray, *, headroom: float = 0.05):
        count = len(subject_ids)
        buffer = np.zeros((max(count + 16, int(count * (1 + headroom))), DIMENSIONS), dtype=np.float32)
        if count:
            buffer[:count] = unit_rows(vectors)
        self._adopt(np.asarray(subject_ids, dtype=np.int64), buffer)

    @classmethod
    def from_unit_rows(cls, subject_ids: np.ndarray, buffer: np.ndarray) -> "ExactIndex":
        """An index that takes `buffer` as its matrix, without a copy: its first len(subject_ids)
        rows are those subjects' unit rows, the rest room to grow."""
        index = cls.__new__(cls)
        index._adopt(np.asarray(subject_ids, dtype=np.int64), buffer)
        return index

    def _adopt(self, subject_ids: np.ndarray, buffer: np.ndarray) -> None:
        count, capacity = len(subject_ids), len(buffer)
        self._rows = buffer
        self._ids = np.full(capacity, -1, dtype=np.int64)
        self._ids[:count] = subject_ids
        self._row_of = {int(pk): row for row, pk in enumerate(subject_ids.tolist())}
        self._free = list(range(capacity - 1, count - 1, -1))

    def __len__(self) -> int:
        return len(self._row_of)

    @property
    def nbytes(self) -> int:
        return self._rows.nbytes + self._ids.nbytes

    def live(self) -> tuple[np.ndarray, np.ndarray]:
        """(subject ids, unit rows) of every subject held: copies, in row order."""
        held = self._ids >= 0
        return self._ids[held], self._rows[held]

    def upsert(self, subject_id: int, vector: np.ndarray) -> None:
        row = self._row_of.get(subject_id)
        if row is None:
            if not self._free:
                self._grow()
            row = self._free.pop()
            self._row_of[subject_id] = row
            self._ids[row] = subject_id
        self._rows[row] = unit_rows(vector)

    def remove(self, subject_id: int) -> None:
        row = self._row_of.pop(subject_id, None)
        if row is not None:
            self._rows[row] = 0
            self._ids[row] = -1
            self._free.append(row)

    def _grow(self) -> None:
        old = len(self._ids)
        extra = max(16, old // 4)
        self._rows = np.vstack([self._rows, np.zeros((extra, DIMENSIONS), dtype=np.float32)])
        self._ids = np.concatenate([self._ids, np.full(extra, -1, dtype=np.int64)])
        self._free.extend(range(old + extra - 1, old - 1, -1))

    def search(self, probe: np.ndarray, k: int) -> list[Neighbour]:
        if not self._row_of:
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


class HnswIndex:
    """faiss's HNSW graph over the rows. HNSW cannot delete, so a removed or changed subject leaves
    a dead node that searches skip (asking for up to DEAD_SLACK more neighbours: a changed subject's
    dead node lies next to its live one); the graph is rebuilt when a fifth of its nodes are dead."""

    kind = "hnsw"
    DEAD_SLACK = 32

    def __init__(self, subject_ids: np.ndarray, vectors: np.ndarray, *, neighbours: int = 16, ef_search: int = 64):
        import faiss  # only a server that asks for the approximate index loads it

        self._faiss = faiss
        self._neighbours = neighbours
        self._ef_search = ef_search
        self._build(np.asarray(subject_ids, dtype=np.int64), unit_rows(vectors))

    def _build(self, subject_ids: np.ndarray, rows: np.ndarray) -> None:
        index = self._faiss.IndexHNSWFlat(DIMENSIONS, self._neighbours, self._faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 40
        index.hnsw.efSearch = self._ef_search
        if len(rows):
            index.add(np.ascontiguousarray(rows, dtype=np.float32))
        self._index = index
        self._node_ids = list(subject_ids.tolist())  # node -> subject id, -1 when dead
        self._node_of = {pk: node for node, pk in enumerate(self._node_ids)}
        self._dead = 0

    def __len__(self) -> int:
        return len(self._node_of)

    @property
    def nbytes(self) -> int:
        links = self._index.hnsw.neighbors.size() * 4 + self._index.hnsw.offsets.size() * 8
        return self._index.ntotal * DIMENSIONS * 4 + links + len(self._node_ids) * 8

    def upsert(self, subject_id: int, vector: np.ndarray) -> None:
        self.remove(subject_id)
        self._node_of[subject_id] = len(self._node_ids)
        self._node_ids.append(subject_id)
        self._index.add(unit_rows(vector).reshape(1, DIMENSIONS))

    def remove(self, subject_id: int) -> None:
        node = self._node_of.pop(subject_id, None)
        if node is None:
            return
        self._node_ids[node] = -1
        self._dead += 1
        if self._dead * 5 > len(self._node_ids):
            self._rebuild()

    def _rebuild(self) -> None:
        live = [(node, pk) for node, pk in enumerate(self._node_ids) if pk >= 0]
        rows = np.vstack([self._index.reconstruct(node) for node, _ in live]) if live else np.zeros((0, DIMENSIONS))
        self._build(np.array([pk for _, pk in live], dtype=np.int64), rows)

    def search(self, probe: np.ndarray, k: int) -> list[Neighbour]:
        if not self._node_of:
            return []
        wanted = min(k + min(self._dead, self.DEAD_SLACK), len(self._node_ids))
        similarity, nodes = self._index.search(unit_rows(probe).reshape(1, DIMENSIONS), wanted)
        found = [
            Neighbour(self._node_ids[node], float(1.0 - score))
            for score, node in zip(similarity[0], nodes[0], strict=True)
            if node >= 0 and self._node_ids[node] >= 0
        ]
        return found[:k]


def build_index(kind: str, subject_ids: np.ndarray, vectors: np.ndarray) -> ExactIndex | HnswIndex:
    if kind == "hnsw":
        return HnswIndex(subject_ids, vectors)
    return ExactIndex(subject_ids, vectors)
