import subprocess
import sys
import time

import pytest

from matching import reading as services
from matching.cores import CoreSlots

HOLD_A_SLOT = """
import sys, time
from pathlib import Path
from matching.cores import CoreSlots
slot = CoreSlots(Path(sys.argv[1]), count=int(sys.argv[2])).try_take()
print("held" if slot else "none", flush=True)
time.sleep(60)
"""


@pytest.fixture
def other_process(tmp_path):
    """Starts a process that takes one of the slots in `tmp_path` and holds it until killed."""
    started = []

    def start(count):
        process = subprocess.Popen(
            [sys.executable, "-c", HOLD_A_SLOT, str(tmp_path), str(count)], stdout=subprocess.PIPE, text=True
        )
        started.append(process)
        assert process.stdout.readline().strip() == "held"
        return process

    yield start
    for process in started:
        process.kill()
        process.wait()


def test_there_are_as_many_slots_as_cores_and_a_released_one_is_free_again(tmp_path):
    slots = CoreSlots(tmp_path, count=2)
    first, second = slots.try_take(), slots.try_take()
    assert first and second
    assert slots.try_take() is None
    first.release()
    assert slots.try_take() is not None


def test_a_slot_held_by_a_killed_process_is_free_again(tmp_path, other_process):
    slots = CoreSlots(tmp_path, count=1)
    holder = other_process(1)
    assert slots.try_take() is None
    holder.kill()
    holder.wait()
    assert slots.try_take() is not None


def test_waiting_for_a_slot_gives_up_at_its_timeout(tmp_path, other_process):
    slots = CoreSlots(tmp_path, count=1)
    other_process(1)
    started = time.monotonic()
    assert slots.take(timeout=0.3) is None
    assert time.monotonic() - started >= 0.3


@pytest.fixture
def cores(monkeypatch, tmp_path):
    slots = CoreSlots(tmp_path, count=2)
    monkeypatch.setattr(services, "_core_slots", slots)
    return slots


def test_an_idle_server_lends_a_request_a_spare_core(cores, settings):
    settings.FACENITION_PHOTO_THREADS = 4
    with services.face_work():
        give_back = services.take_spare_core()
        assert give_back is not None
        assert services.take_spare_core() is None  # two cores, both in use
        give_back()
        assert cores.try_take() is not None


def test_a_busy_server_lends_no_spare_core(cores, settings, other_process):
    settings.FACENITION_PHOTO_THREADS = 4
    other_process(2)  # another worker process is reading a photo
    with services.face_work():
        assert services.take_spare_core() is None


def test_a_worker_reads_no_more_photos_at_once_than_its_photo_threads(cores, settings):
    settings.FACENITION_PHOTO_THREADS = 1
    with services.face_work():
        assert services.take_spare_core() is None
    # and its slots are given back
    assert cores.try_take() is not None and cores.try_take() is not None


def test_a_helper_gives_its_core_back_as_soon_as_its_photo_is_read(cores, settings, monkeypatch):
    import numpy as np

    from matching.pipeline import Analysis, Box, DecodedImage, DetectedFace

    settings.FACENITION_PHOTO_THREADS = 2
    free_while_the_slow_photo_was_read = []

    def analyse(pipeline, rgb, **how):
        if rgb[0, 0, 0] == 2:  # the slow photo: the other is read meanwhile, by a helper
            time.sleep(0.3)
            slot = cores.try_take()
            free_while_the_slow_photo_was_read.append(slot is not None)
            if slot:
                slot.release()
        face = DetectedFace(box=Box(0, 0, 64, 48), confidence=1.0, embedding=np.ones(128))
        return Analysis(width=rgb.shape[1], height=rgb.shape[0], faces=[face])

    monkeypatch.setattr("matching.pipeline.core.FacePipeline.analyse", analyse)
    fast, slow = (
        DecodedImage(label, np.full((48, 64, 3), value, dtype=np.uint8)) for label, value in (("a", 1), ("b", 2))
    )

    readings = services.faces_read(images=[fast, slow])

    assert [reading.label for reading in readings] == ["a", "b"]
    assert free_while_the_slow_photo_was_read == [True]


def test_a_spare_core_is_not_lent_while_another_request_waits_for_one(cores, settings):
    import threading

    settings.FACENITION_PHOTO_THREADS = 4
    held = [cores.try_take(), cores.try_take()]  # both cores busy
    waiter = threading.Thread(target=lambda: held.append(cores.take(timeout=5)))
    waiter.start()
    time.sleep(0.2)  # the waiter is polling now
    assert cores.anyone_waiting()
    held[0].release()  # a core frees up: the waiter's, not a spare to lend
    waiter.join()
    assert held[2] is not None
    assert not cores.anyone_waiting()


def test_a_free_core_goes_to_a_waiting_request_rather_than_to_a_spare(cores, settings):
    import fcntl
    import os

    settings.FACENITION_PHOTO_THREADS = 4
    with services.face_work():
        waiting = os.open(cores.folder / "waiting", os.O_RDWR | os.O_CREAT)
        fcntl.flock(waiting, fcntl.LOCK_SH)  # as a request waiting for a core does
        try:
            assert services.take_spare_core() is None
        finally:
            os.close(waiting)
        give_back = services.take_spare_core()
        assert give_back is not None
        give_back()
