"""One copy of a gallery per host: a read-only snapshot file of a gallery's matrix at one version,
which every worker of the host maps (copy-on-write) instead of holding a copy of its own.

Django-free. A snapshot is named by its gallery, its version and a tag of what it was opened under
(the token keys and the gallery row it was read from, `matching.gallery_index`); its header says the
same, the random stamp the gallery gave that version (`Gallery.stamps`: a version number reused
after a database restored to an earlier point carries another) and a CRC-32 of the rest, so a snapshot copied or renamed onto another name, truncated or
altered is refused (and removed), never searched, as is anything under a snapshot's name that is
not a regular file of the server's user, 0600 (a symbolic link is never followed). It is written
once, under a lock shared by the host's workers, into a file of the folder without a name
(O_TMPFILE), flushed and linked into place: a writer killed meanwhile leaves nothing behind. Where
the filesystem cannot make one, the draft has a dot name, which the next worker holding the
gallery's lock zeroes and removes.

A snapshot holds opened embeddings, so its folder must be in memory (tmpfs: /dev/shm), readable by
the server's user alone (0700; files 0600). A snapshot that is let go of (superseded by a newer
version, holding a forgotten subject, or of a deleted gallery) is zeroed before it is removed, under
an exclusive lock that waits for every search on it to end: no page of it keeps a face once freed.

Layout: a 4 KiB header (magic, then JSON), the subject of each row (int64, -1 for a free row), the
subject ids held in order and their rows (int64 each), then, 16 bytes past a page boundary, the
float32 rows.
"""

import errno
import fcntl
import json
import logging
import mmap
import os
import re
import stat
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
_TEMPORARY = re.compile(r"^\.gallery-(\d+)-v\d+-[0-9a-z-]+\.snapshot\.\d+\.[0-9a-f]+\.tmp$")
# Never follows a planted symbolic link, and never waits on a planted FIFO.
_OPEN_FLAGS = os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
# A draft is a file without a name until it is whole (O_TMPFILE): a writer killed meanwhile leaves nothing.
# Where the filesystem cannot, it has a dot name, which the next worker holding the gallery's lock removes.
USE_UNNAMED_DRAFTS = hasattr(os, "O_TMPFILE")


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


def snapshot_open(folder: Path, gallery_id: int, version: int, tag: str, stamp: str) -> Snapshot | None:
    """The snapshot of the gallery at `version` under `tag`, made when that version had `stamp`, or
    None when the host has none. One that is not whole, or says it is another, is removed with a
    warning: the caller builds it again."""
    path = folder / snapshot_name(gallery_id, version, tag)
    try:
        fd = os.open(path, os.O_RDONLY | _OPEN_FLAGS)
    except FileNotFoundError:
        return None
    except OSError as problem:  # a symbolic link (ELOOP) or another thing planted under the name
        log.warning("gallery snapshot %s is unusable (%s): removed, to be built again", path.name, problem)
        snapshot_destroy(path)
        return None
    try:
        _check_owned_file(fd)
        fcntl.flock(fd, fcntl.LOCK_SH)
        capacity, count = _checked(fd, gallery_id=gallery_id, version=version, tag=tag, stamp=stamp)
        snapshot = Snapshot(path, fd, version, capacity, count)
        fcntl.flock(fd, fcntl.LOCK_UN)
    except Exception as problem:  # whatever is wrong with it, it is not used: it is built again
        os.close(fd)
        log.warning("gallery snapshot %s is unusable (%s): removed, to be built again", path.name, problem)
        snapshot_destroy(path)
        return None
    if snapshot.live():
        return snapshot
    snapshot.close()
    return None


def _check_owned_file(fd: int) -> os.stat_result:
    """The file's status, if it is a regular file of the server's user that no one else may open."""
    status = os.fstat(fd)
    if not stat.S_ISREG(status.st_mode):
        raise SnapshotUnusable("it is not a regular file")
    if status.st_uid != os.geteuid():
        raise SnapshotUnusable("it belongs to another user")
    if status.st_mode & 0o077:
        raise SnapshotUnusable(f"other users may open it (mode {stat.S_IMODE(status.st_mode):o})")
    return status


def _checked(fd: int, *, gallery_id: int, version: int, tag: str, stamp: str) -> tuple[int, int]:
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
        if not isinstance(fields, dict):
            raise SnapshotUnusable("its header is not a set of fields")
        expected = {"gallery": gallery_id, "version": version, "tag": tag}
        if {name: fields.get(name) for name in expected} != expected:
            raise SnapshotUnusable(f"it holds gallery {fields.get('gallery')} at version {fields.get('version')}")
        if fields.get("stamp") != stamp:
            raise SnapshotUnusable(f"it holds version {version} of another history (a database restored since)")
        numbers = [fields.get(name) for name in ("capacity", "count", "crc32")]
        if not all(type(number) is int for number in numbers):
            raise SnapshotUnusable("its header lacks its capacity, count or checksum")
        capacity, count, crc = (int(number) for number in numbers)  # type: ignore[arg-type]
        if not 0 <= count <= capacity or _Layout(capacity).size != size:
            raise SnapshotUnusable(f"{size} bytes, not the {_Layout(capacity).size} its header says")
        with memoryview(whole) as view, view[HEADER_BYTES:] as body:
            if zlib.crc32(body) != crc:
                raise SnapshotUnusable("its checksum does not match: it was altered")
    return capacity, count


class SnapshotDraft:
    """A snapshot being written into a file without a name (or a dot name): fill `ids` and `rows`, then `commit`."""

    def __init__(self, folder: Path, gallery_id: int, version: int, tag: str, stamp: str, capacity: int):
        self.fields = {"gallery": gallery_id, "version": version, "tag": tag, "stamp": stamp, "capacity": capacity}
        self.path = folder / snapshot_name(gallery_id, version, tag)
        self._temporary: Path | None = None
        self._layout = _Layout(capacity)
        self._fd = _unnamed_file(folder)
        if self._fd < 0:
            self._temporary = folder / f".{self.path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
            self._fd = os.open(self._temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL | _OPEN_FLAGS, 0o600)
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
        self.ids, self.rows = np.empty(0, dtype=np.int64), np.empty((0, DIMENSIONS), dtype=np.float32)
        if self._temporary is None:
            try:
                _link_unnamed(self._fd, self.path)
            except FileExistsError:  # one that did not open (removed meanwhile, or planted): this replaces it
                snapshot_destroy(self.path)
                _link_unnamed(self._fd, self.path)
        else:
            os.replace(self._temporary, self.path)
            self._temporary = None
        os.close(self._fd)
        self._fd = -1
        return self.path

    def discard(self) -> None:
        """Zeroes what was written and lets the file go."""
        self.ids, self.rows = np.empty(0, dtype=np.int64), np.empty((0, DIMENSIONS), dtype=np.float32)
        if self._fd >= 0:
            try:
                _zero(self._fd)
            finally:
                os.close(self._fd)
                self._fd = -1
        if self._temporary is not None:
            _remove_name(self._temporary)


def _link_unnamed(fd: int, path: Path) -> None:
    """Gives the file without a name `fd` the name `path` (linkat through /proc, following the link:
    os.link does only when given a folder's descriptor)."""
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.link(f"/proc/self/fd/{fd}", path.name, dst_dir_fd=folder, follow_symlinks=True)
    finally:
        os.close(folder)


def _unnamed_file(folder: Path) -> int:
    """A file in `folder` with no name (O_TMPFILE), or -1 where the kernel or filesystem has none."""
    if not USE_UNNAMED_DRAFTS:
        return -1
    try:
        return os.open(folder, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600)
    except OSError as error:
        if error.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
            return -1
        raise


def snapshot_destroy(path: Path) -> None:
    """Zeroes the file, once no worker searches it, and removes it. Only a regular file of the
    server's user is zeroed: a symbolic link or anything else planted under the name is only removed,
    never followed."""
    try:
        fd = os.open(path, os.O_RDWR | _OPEN_FLAGS)
    except FileNotFoundError:
        return
    except OSError as error:  # a symbolic link (ELOOP), a folder, a FIFO without reader...
        log.warning("%s is not a snapshot file (%s): removed without being opened", path, error.strerror)
        _remove_name(path)
        return
    try:
        try:
            _check_owned_file(fd)
        except SnapshotUnusable as problem:
            log.warning("%s is not a snapshot file (%s): removed without being zeroed", path, problem)
        else:
            fcntl.flock(fd, fcntl.LOCK_EX)
            _zero(fd)
        path.unlink(missing_ok=True)
    finally:
        os.close(fd)


def _remove_name(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except IsADirectoryError:
        log.warning("%s is a folder in the snapshot folder: left as it is", path)


def _zero(fd: int) -> None:
    size = os.fstat(fd).st_size
    if not size:
        return
    with mmap.mmap(fd, size, flags=mmap.MAP_SHARED) as whole:
        content = np.frombuffer(whole, dtype=np.uint8)
        for start in range(0, size, ZEROING_BLOCK):
            block = content[start : start + ZEROING_BLOCK]
            if block.any():  # a hole reads as zeros without taking memory: left as it is
                block.fill(0)
        del content, block


def snapshot_versions(folder: Path, gallery_id: int) -> list[tuple[int, str, Path]]:
    """(version, tag, path) of every snapshot of the gallery on this host, newest first."""
    found = []
    for path in folder.glob(f"gallery-{gallery_id}-v*{SUFFIX}"):
        match = _NAME.match(path.name)
        if match and int(match[1]) == gallery_id:
            found.append((int(match[2]), match[3], path))
    return sorted(found, reverse=True)


def snapshot_galleries(folder: Path) -> set[int]:
    """The galleries this host holds a snapshot of, or a draft of one left by a writer that stopped."""
    names = [path.name for path in folder.iterdir()]
    return {int(match[1]) for name in names if (match := _NAME.match(name) or _TEMPORARY.match(name))}


def snapshot_drafts_left(folder: Path, gallery_id: int) -> list[Path]:
    """The drafts (named: where files cannot be made without a name) of the gallery's snapshots in
    the folder. Under the gallery's host lock, every one was left by a writer that stopped."""
    return [
        path
        for path in folder.glob(f".gallery-{gallery_id}-v*.tmp")
        if (match := _TEMPORARY.match(path.name)) and int(match[1]) == gallery_id
    ]


def snapshots_remove(folder: Path, gallery_id: int, *, older_than: int | None = None) -> int:
    """Zeroes and removes the gallery's snapshots: all of them, or those of versions before
    `older_than`, under any tag, and the drafts that writers which stopped left (call it with the
    gallery's host lock held, or for a deleted gallery). How many snapshots were removed."""
    removed = 0
    for version, _, path in snapshot_versions(folder, gallery_id):
        if older_than is None or version < older_than:
            snapshot_destroy(path)
            removed += 1
    for temporary in snapshot_drafts_left(folder, gallery_id):
        snapshot_destroy(temporary)
    if older_than is None:
        _remove_name(folder / f"gallery-{gallery_id}.lock")
    return removed


@contextmanager
def host_lock(folder: Path, gallery_id: int, *, wait: bool = True) -> Iterator[None]:
    """Held by the one worker of the host that writes or removes the gallery's snapshots; without
    `wait`, BlockingIOError when another holds it."""
    fd = os.open(folder / f"gallery-{gallery_id}.lock", os.O_RDWR | os.O_CREAT | _OPEN_FLAGS, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield
    finally:
        os.close(fd)


def snapshot_folder_problem(folder: Path) -> str | None:
    """Why `folder` cannot hold snapshots (created, 0700, when missing), or None when it can."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        status = folder.lstat()
    except OSError as error:
        return f"it cannot be created ({error.strerror})"
    if stat.S_ISLNK(status.st_mode):
        return "it is a symbolic link (name the folder itself)"
    if not stat.S_ISDIR(status.st_mode):
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
