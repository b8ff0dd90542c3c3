"""Core slots: how many photos the whole server reads at once, shared by its worker processes.

A photo is read (decoded, detected, embedded) by single-threaded native code, so the machine's
cores are the budget. Each core this process may run on is a slot, and a thread reading a photo
holds one. The slots are `flock` locks on one file each, in a folder of the user's under the
temporary directory: every process of the server sees the same count without a broker, and the
kernel frees the slot of a process that dies holding it (a worker killed on its timeout loses no
slot).

A request reads its first photo as soon as a slot is free, and its other photos side by side only
on slots that are free at that moment while no other reader waits for one. On an idle server one
request gets every core; under load each request gets one and the cores are not oversubscribed.
"""

import fcntl
import logging
import os
import tempfile
import threading
import time
from pathlib import Path

log = logging.getLogger("facenition.matching")

POLL_SECONDS = 0.005


def core_count() -> int:
    """The cores this process may run on (all of them where the system cannot say, as on macOS)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity else os.cpu_count() or 1


def slots_folder() -> Path:
    return Path(tempfile.gettempdir()) / f"facenition-cores-{os.getuid()}"


class Slot:
    """One core, held until `release()`."""

    def __init__(self, fd: int | None) -> None:
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the file drops its lock


class CoreSlots:
    def __init__(self, folder: Path | None = None, count: int | None = None) -> None:
        self.folder = folder or slots_folder()
        self.count = count or core_count()
        self._usable: bool | None = None
        self._lock = threading.Lock()

    def _ready(self) -> bool:
        with self._lock:
            if self._usable is None:
                try:
                    self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
                    for index in range(self.count):
                        os.close(os.open(self.folder / f"slot-{index}", os.O_RDWR | os.O_CREAT, 0o600))
                    self._usable = True
                except OSError as problem:
                    log.warning(
                        "core slots unavailable in %s (%s): each worker reads its photos one at a time",
                        self.folder,
                        problem,
                    )
                    self._usable = False
            return self._usable

    def try_take(self) -> Slot | None:
        """A free core now, or None."""
        if not self._ready():
            return None
        for index in range(self.count):
            fd = os.open(self.folder / f"slot-{index}", os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return Slot(fd)
        return None

    def take(self, timeout: float | None) -> Slot | None:
        """A core as soon as one is free, waiting at most `timeout` seconds (None: for ever); None when
        none became free. While it waits it holds a shared lock on the `waiting` file, so that
        `anyone_waiting()` sees it. Without usable slot files, a slot that holds nothing: the
        worker's own limit (FACENITION_PHOTO_THREADS) still applies."""
        if not self._ready():
            return Slot(None)
        slot = self.try_take()
        if slot is not None:
            return slot
        deadline = None if timeout is None else time.monotonic() + timeout
        waiting = os.open(self.folder / "waiting", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(waiting, fcntl.LOCK_SH)
            while True:
                slot = self.try_take()
                if slot is not None:
                    return slot
                if deadline is not None and time.monotonic() >= deadline:
                    return None
                time.sleep(POLL_SECONDS)
        finally:
            os.close(waiting)

    def anyone_waiting(self) -> bool:
        """Whether a reader somewhere is waiting for a core (then a spare one is for it, not lent)."""
        if not self._ready():
            return False
        waiting = os.open(self.folder / "waiting", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(waiting, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(waiting)
        return False
