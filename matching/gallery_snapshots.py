"""One copy of a gallery per host: a read-only snapshot file of a gallery's matrix at one version,
which every worker of the host maps (copy-on-write) instead of holding a copy of its own.

Django-free. A snapshot is named by its gallery, its version and a tag of what it was opened under
(the token keys and the gallery row it was read from, `matching.gallery_index`); its header says the
same and a CRC-32 of the rest, so a snapshot copied or renamed onto another name, truncated or
altered is refused (and removed), never searched. It is written once, under a lock shared by the
host's workers, to a temporary name in the same folder, flushed and renamed into place.

A snapshot holds opened embeddings, so its folder must be in memory (tmpfs: /dev/shm), readable by
the server's user alone (0700; files 0600). A snapshot that is let go of (superseded by a newer
version, holding a forgotten subject, or of a deleted gallery) is zeroed before it is removed, under
an exclusive lock that waits for every search on it to end: no page of it keeps a face once freed.

Layout: a 4 KiB header (magic, then JSON), the subject of each row (int64, -1 for a free row), the
subject ids held in order and their rows (int64 each), then, 16 bytes past a page boundary, the
float32 rows.
"""

import fcntl
import json
import logging
import mmap
import os
import re
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .search import DIMENSIONS, row_lookup

log = logging.getLogger("facenition.matching")

MAGIC = b"FACENITION-GALLERY-SNAPSHOT-1\n"
HEADER_BYTES = 4096
SUFFIX = ".snapshot"
MEMORY_FILESYSTEMS = ("tmpfs", "ramfs")
ZEROING_BLOCK = 4 << 20
# The matrix starts this far past a page boundary, where a large numpy array of a worker's own starts
# (after malloc's header): OpenBLAS's matrix-vector product over a page-aligned matrix measured 1.3-1.5×
# slower on this machine, over a mapping or an anonymous array alike.
ROWS_PAST_PAGE = 16
_NAME = re.compile(r"^gallery-(\d+)-v(\d+)-([0-9a-z-]+)\.snapshot$")


class SnapshotUnusable(ValueError):
    """A snapshot file that is not the one asked for, or not whole."""


def snapshot_name(gallery_id: int, version: int, tag: str) -> str:
    return f"gallery-{gallery_id}-v{version}-{tag}{SUFFIX}"


@dataclass(frozen=True)
class _Layout:
    capacity: int

    @property
    def ids_at(self) -> int:
        return HEADER_BYTES

    @property
    def sorted_ids_at(self) -> int:
        return self.ids_at + 8 * self.capacity

    @property
    def sorted_rows_at(self) -> int:
        return self.sorted_ids_at + 8 * self.capacity

    @property
    def rows_at(self) -> int:
        end = self.sorted_rows_at + 8 * self.capacity
        return -(-end // mmap.PAGESIZE) * mmap.PAGESIZE + ROWS_PAST_PAGE

    @property
    def size(self) -> int:
        return self.rows_at + self.capacity * DIMENSIONS * 4

    def arrays(self, buffer, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(row subjects, subject ids in order, their rows, the matrix) as views of `buffer`."""
        return (
            np.frombuffer(buffer, dtype=np.int64, count=self.capacity, offset=self.ids_at),
            np.frombuffer(buffer, dtype=np.int64, count=count, offset=self.sorted_ids_at),
            np.frombuffer(buffer, dtype=np.int64, count=count, offset=self.sorted_rows_at),
            np.frombuffer(buffer, dtype=np.float32, count=self.capacity * DIMENSIONS, offset=self.rows_at).reshape(
                self.capacity, DIMENSIONS
            ),
        )


class Snapshot:
    """An open snapshot: its arrays map the file privately (copy-on-write), and it keeps the file
    open so that it can tell when another worker has removed it (`live`)."""

    def __init__(self, path: Path, fd: int, version: int, capacity: int, count: int):
        self.path, self._fd, self.version = path, fd, version
        self._map = mmap.mmap(fd, 0, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ | mmap.PROT_WRITE)
        self.ids, sorted_ids, sorted_rows, self.rows = _Layout(capacity).arrays(self._map, count)
        self.lookup = (sorted_ids, sorted_rows)

    @property
    def nbytes(self) -> int:
        return len(self._map)

    def live(self) -> bool:
        """False once another worker has removed the file (it was superseded or forgotten)."""
        return self._fd >= 0 and os.fstat(self._fd).st_nlink > 0

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Held while the rows are searched: a worker removing the snapshot waits for it."""
        fcntl.flock(self._fd, fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Lets go of the file; the mapping goes with the last array that views it."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def snapshot_open(folder: Path, gallery_id: int, version: int, tag: str) -> Snapshot | None:
    """The snapshot of the gallery at `version` under `tag`, or None when the host has none. One that
    is not whole, or says it is another, is removed with a warning: the caller builds it again."""
    path = folder / snapshot_name(gallery_id, version, tag)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        capacity, count = _checked(fd, gallery_id=gallery_id, version=version, tag=tag)
        snapshot = Snapshot(path, fd, version, capacity, count)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return snapshot if snapshot.live() else None
    except (SnapshotUnusable, OSError, ValueError) as problem:
        os.close(fd)
        log.warning("gallery snapshot %s is unusable (%s): removed, to be built again", path.name, problem)
        snapshot_destroy(path)
        return None


def _checked(fd: int, *, gallery_id: int, version: int, tag: str) -> tuple[int, int]:
    size = os.fstat(fd).st_size
    if size < HEADER_BYTES:
        raise SnapshotUnusable(f"{size} bytes, shorter than its header")
    with mmap.mmap(fd, 0, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ) as whole:
        header = whole[:HEADER_BYTES]
        if not header.startswith(MAGIC):
            raise SnapshotUnusable("no snapshot header")
        (length,) = struct.unpack_from("<I", header, len(MAGIC))
        try:
            fields = json.loads(header[len(MAGIC) + 4 : len(MAGIC) + 4 + length])
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise SnapshotUnusable("its header does not read") from None
        expected = {"gallery": gallery_id, "version": version, "tag": tag}
        if {name: fields.get(name) for name in expected} != expected:
            raise SnapshotUnusable(f"it holds gallery {fields.get('gallery')} at version {fields.get('version')}")
        capacity, count = int(fields["capacity"]), int(fields["count"])
        if not 0 <= count <= capacity or _Layout(capacity).size != size:
            raise SnapshotUnusable(f"{size} bytes, not the {_Layout(capacity).size} its header says")
        with memoryview(whole) as view, view[HEADER_BYTES:] as body:
            if zlib.crc32(body) != fields["crc32"]:
                raise SnapshotUnusable("its checksum does not match: it was altered")
    return capacity, count


class SnapshotDraft:
    """A snapshot being written under a temporary name: fill `ids` and `rows`, then `commit`."""

    def __init__(self, folder: Path, gallery_id: int, version: int, tag: str, capacity: int):
        self.fields = {"gallery": gallery_id, "version": version, "tag": tag, "capacity": capacity}
        self.path = folder / snapshot_name(gallery_id, version, tag)
        self._temporary = folder / f".{self.path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        self._layout = _Layout(capacity)
        self._fd = os.open(self._temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            # Reserved now: a full tmpfs refuses here (OSError) instead of killing the worker (SIGBUS) on a write.
            os.posix_fallocate(self._fd, 0, self._layout.size)
            self._map = mmap.mmap(self._fd, self._layout.size, flags=mmap.MAP_SHARED)
        except OSError:
            self.discard()
            raise
        self.ids = np.frombuffer(self._map, dtype=np.int64, count=capacity, offset=self._layout.ids_at)
        self.ids.fill(-1)
        self.rows = self._layout.arrays(self._map, 0)[3]

    def commit(self) -> Path:
        """Writes the lookup and the header, flushes the file and renames it into place."""
        sorted_ids, sorted_rows = row_lookup(self.ids)
        count = len(sorted_ids)
        _, sorted_ids_view, sorted_rows_view, _ = self._layout.arrays(self._map, count)
        sorted_ids_view[:] = sorted_ids
        sorted_rows_view[:] = sorted_rows
        del sorted_ids_view, sorted_rows_view
        with memoryview(self._map) as view, view[HEADER_BYTES:] as body:
            crc = zlib.crc32(body)
        header = json.dumps({**self.fields, "count": count, "crc32": crc}).encode()
        self._map[: len(MAGIC) + 4 + len(header)] = MAGIC + struct.pack("<I", len(header)) + header
        self._map.flush()
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = -1
        self.ids, self.rows = np.empty(0, dtype=np.int64), np.empty((0, DIMENSIONS), dtype=np.float32)
        os.replace(self._temporary, self.path)
        return self.path

    def discard(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self.ids, self.rows = np.empty(0, dtype=np.int64), np.empty((0, DIMENSIONS), dtype=np.float32)
        snapshot_destroy(self._temporary)


def snapshot_destroy(path: Path) -> None:
    """Zeroes the file, once no worker searches it, and removes it."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size:
            with mmap.mmap(fd, size, flags=mmap.MAP_SHARED) as whole:
                content = np.frombuffer(whole, dtype=np.uint8)
                for start in range(0, size, ZEROING_BLOCK):
                    block = content[start : start + ZEROING_BLOCK]
                    if block.any():  # a hole reads as zeros without taking memory: left as it is
                        block.fill(0)
                del content, block
        path.unlink(missing_ok=True)
    finally:
        os.close(fd)


def snapshot_versions(folder: Path, gallery_id: int) -> list[tuple[int, str, Path]]:
    """(version, tag, path) of every snapshot of the gallery on this host, newest first."""
    found = []
    for path in folder.glob(f"gallery-{gallery_id}-v*{SUFFIX}"):
        match = _NAME.match(path.name)
        if match and int(match[1]) == gallery_id:
            found.append((int(match[2]), match[3], path))
    return sorted(found, reverse=True)


def snapshot_galleries(folder: Path) -> set[int]:
    """The galleries this host holds a snapshot of."""
    return {int(match[1]) for path in folder.glob(f"gallery-*{SUFFIX}") if (match := _NAME.match(path.name))}


def snapshots_remove(folder: Path, gallery_id: int, *, older_than: int | None = None) -> int:
    """Zeroes and removes the gallery's snapshots: all of them, or those of versions before
    `older_than`, under any tag. How many were removed."""
    removed = 0
    for version, _, path in snapshot_versions(folder, gallery_id):
        if older_than is None or version < older_than:
            snapshot_destroy(path)
            removed += 1
    if older_than is None:
        for temporary in folder.glob(f".gallery-{gallery_id}-v*.tmp"):
            snapshot_destroy(temporary)
        (folder / f"gallery-{gallery_id}.lock").unlink(missing_ok=True)
    return removed


@contextmanager
def host_lock(folder: Path, gallery_id: int, *, wait: bool = True) -> Iterator[None]:
    """Held by the one worker of the host that writes or removes the gallery's snapshots; without
    `wait`, BlockingIOError when another holds it."""
    fd = os.open(folder / f"gallery-{gallery_id}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield
    finally:
        os.close(fd)


def snapshot_folder_problem(folder: Path) -> str | None:
    """Why `folder` cannot hold snapshots (created, 0700, when missing), or None when it can."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        status = folder.stat()
    except OSError as error:
        return f"it cannot be created ({error.strerror})"
    if not folder.is_dir():
        return "it is not a folder"
    if status.st_uid != os.geteuid():
        return "it belongs to another user"
    if status.st_mode & 0o077:
        return f"other users may open it (mode {status.st_mode & 0o777:o}; it must be 700)"
    if not os.access(folder, os.W_OK | os.X_OK):
        return "the server cannot write in it"
    filesystem = _filesystem_of(folder.resolve())
    if filesystem not in MEMORY_FILESYSTEMS:
        return f"it is on a {filesystem or 'unknown'} filesystem, not in memory (tmpfs, such as /dev/shm)"
    return None


def _filesystem_of(path: Path) -> str:
    best, kind = "", ""
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        mount = fields[1].replace("\\040", " ")
        if (str(path) == mount or str(path).startswith(mount.rstrip("/") + "/")) and len(mount) >= len(best):
            best, kind = mount, fields[2]
    return kind
