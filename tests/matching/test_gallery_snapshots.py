"""One copy of a gallery per host: the workers of a host map the gallery's snapshot at its version
instead of loading copies of their own. Another worker is this process with its copies set aside
(`another_worker`): its memory is its own, the snapshot folder is the host's."""

import errno
import json
import logging
import os
import shutil
import stat
import struct
from collections import OrderedDict
from contextlib import contextmanager, nullcontext

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from matching import gallery_index, gallery_snapshots
from matching.galleries import gallery_forget
from matching.gallery_index import cached_gallery, gallery_search, gallery_size, snapshot_tag
from matching.models import Gallery
from matching.search import unit_rows
from tests.matching.conftest import synthetic_subjects

pytestmark = [pytest.mark.django_db]


def fresh(gallery):
    return Gallery.objects.get(pk=gallery.pk)


def vectors_of(count, seed=0):
    return np.random.default_rng(seed).standard_normal((count, 128)).astype(np.float32)


def snapshot_files(folder):
    return sorted(path.name for path in folder.glob("*.snapshot"))


def nearest(gallery, vector):
    return gallery_search(fresh(gallery), [vector], 1)[1][0][0]


@contextmanager
def another_worker():
    """Runs the block as another worker of the host: none of this one's copies, and its own dropped after."""
    mine = gallery_index._galleries
    gallery_index._galleries = OrderedDict()
    try:
        yield
    finally:
        for gallery_id in list(gallery_index._galleries):
            gallery_index.gallery_forget_cached(gallery_id)
        gallery_index._galleries = mine


@pytest.fixture
def gallery(client_row):
    synthetic_subjects(client_row, 50)
    return Gallery.objects.get(client=client_row)


def test_the_workers_of_a_host_share_one_snapshot_of_the_gallery(gallery, snapshot_folder):
    probe = vectors_of(50)[17]
    first = nearest(gallery, probe)
    assert cached_gallery(gallery.pk).full_loads == 1
    [name] = snapshot_files(snapshot_folder)
    assert name.startswith(f"gallery-{gallery.pk}-v{gallery.version}-k")
    assert stat.S_IMODE((snapshot_folder / name).stat().st_mode) == 0o600
    assert stat.S_IMODE(snapshot_folder.stat().st_mode) == 0o700

    with another_worker():
        with CaptureQueriesContext(connection) as queries:
            second = nearest(gallery, probe)
        assert not [q for q in queries.captured_queries if "matching_face" in q["sql"]]  # no face is read
        copy = cached_gallery(gallery.pk)
        assert (copy.full_loads, copy.snapshot.path.name) == (0, name)
    assert second == first
    assert first.distance == pytest.approx(0, abs=1e-5)


def test_an_enroll_is_applied_in_place_on_the_snapshot_then_the_next_version_is_shared(
    gallery, client_row, snapshot_folder
):
    gallery_size(gallery)
    synthetic_subjects(client_row, 2, seed=5, prefix="new")

    found = nearest(gallery, vectors_of(2, seed=5)[1])

    copy = cached_gallery(gallery.pk)
    assert found.subject_id == client_row.gallery.subjects.get(name="new-1").pk
    assert (copy.full_loads, copy.refreshes, copy.version) == (1, 1, fresh(gallery).version)
    assert copy.snapshot.version == gallery.version  # the file is as it was: the worker's own pages took it
    assert snapshot_files(snapshot_folder) == [copy.snapshot.path.name]

    with another_worker():  # a worker new to the gallery makes the current version from the last one
        assert gallery_size(fresh(gallery)) == 52
        assert cached_gallery(gallery.pk).full_loads == 0
    [name] = snapshot_files(snapshot_folder)
    assert f"-v{fresh(gallery).version}-" in name
    # The first worker's snapshot was superseded: it moves to the current one, finding the same.
    assert nearest(gallery, vectors_of(2, seed=5)[1]) == found
    assert cached_gallery(gallery.pk).snapshot.path.name == name


def forgotten_bytes_in(folder, vector):
    """The files of the folder that hold the vector's direction as 128 float32s, at any 4-byte offset."""
    unit = unit_rows(vector).astype(np.float64)
    holding = []
    for path in folder.iterdir():
        content = path.read_bytes()
        floats = np.frombuffer(content[: len(content) // 4 * 4], dtype="<f4").astype(np.float64)
        floats = np.nan_to_num(floats, nan=0, posinf=0, neginf=0).clip(-1e6, 1e6)
        if len(floats) < 128:
            continue
        windows = np.lib.stride_tricks.sliding_window_view(floats, 128)
        cosines = windows @ unit / np.maximum(np.linalg.norm(windows, axis=1), 1e-12)
        if (cosines > 0.9999).any():
            holding.append(path.name)
    return holding


def test_after_a_forget_no_snapshot_on_the_host_holds_the_forgotten_subject(
    gallery, client_row, snapshot_folder, django_capture_on_commit_callbacks
):
    vector = vectors_of(50)[7]
    forgotten = client_row.gallery.subjects.get(name="synthetic-7").pk
    assert nearest(gallery, vector).subject_id == forgotten
    with another_worker():
        gallery_size(gallery)  # another worker maps the same snapshot
    old = cached_gallery(gallery.pk).snapshot.path
    with open(old, "rb") as held_open:  # as a process that still maps it would
        assert forgotten_bytes_in(snapshot_folder, vector) == [old.name]

        with django_capture_on_commit_callbacks(execute=True):
            gallery_forget(client=client_row, subject="synthetic-7")

        assert snapshot_files(snapshot_folder) == [
            old.name.replace(f"-v{gallery.version}-", f"-v{fresh(gallery).version}-")
        ]
        assert forgotten_bytes_in(snapshot_folder, vector) == []
        assert not any(held_open.read())  # zeroed before it was removed: no page of it keeps the face
    # Each worker's next request honours the forget, on the new snapshot: this one, which mapped the
    # old one, and another new to the gallery.
    for worker in (nullcontext, another_worker):
        with worker():
            assert nearest(gallery, vector).subject_id != forgotten
            assert gallery_size(fresh(gallery)) == 49
            assert cached_gallery(gallery.pk).snapshot.version == fresh(gallery).version


def test_a_forget_made_on_another_host_is_honoured_and_removes_this_hosts_old_snapshots(
    gallery, client_row, snapshot_folder
):
    vector = vectors_of(50)[7]
    gallery_size(gallery)
    forgotten = client_row.gallery.subjects.get(name="synthetic-7").pk
    gallery_forget(client=client_row, subject="synthetic-7")  # committed elsewhere: no hook ran here

    found = nearest(gallery, vector)

    assert found.subject_id != forgotten
    assert [f"-v{fresh(gallery).version}-" in name for name in snapshot_files(snapshot_folder)] == [True]
    assert forgotten_bytes_in(snapshot_folder, vector) == []


def test_forgetting_one_face_removes_the_snapshots_that_hold_it(client_row, snapshot_folder):
    from django.conf import settings

    from matching.galleries import gallery_enroll_embeddings

    faces = vectors_of(2, seed=3)
    gallery_enroll_embeddings(
        client=client_row,
        subjects=[("two-faced", list(faces))],
        model_name=settings.FACENITION_MODEL,
        detector_name="dlib",
    )
    synthetic_subjects(client_row, 5)
    gallery = Gallery.objects.get(client=client_row)
    mean_before = unit_rows(faces.mean(axis=0))
    gallery_size(gallery)
    assert forgotten_bytes_in(snapshot_folder, mean_before)
    face = client_row.gallery.subjects.get(name="two-faced").faces.order_by("created_at").first()

    gallery_forget(client=client_row, face_id=face.pk)
    gallery_size(fresh(gallery))

    assert forgotten_bytes_in(snapshot_folder, mean_before) == []
    assert len(snapshot_files(snapshot_folder)) == 1


def test_a_snapshot_under_another_token_key_is_never_used(gallery, snapshot_folder, settings, caplog):
    gallery_size(gallery)
    [before] = snapshot_files(snapshot_folder)
    settings.FACENITION_RETIRED_TOKEN_KEYS = settings.FACENITION_TOKEN_KEY
    settings.FACENITION_TOKEN_KEY = "a newer token key " + "n" * 40
    # An attacker, or an operator's mistake, puts the old snapshot under the name the new key expects.
    expected = snapshot_folder / f"gallery-{gallery.pk}-v{gallery.version}-{snapshot_tag(gallery)}.snapshot"
    shutil.copy(snapshot_folder / before, expected)

    with another_worker(), caplog.at_level(logging.WARNING, logger="facenition.matching"):
        assert gallery_size(fresh(gallery)) == 50
        assert cached_gallery(gallery.pk).full_loads == 1  # opened from PostgreSQL under the keys held now

    assert "unusable" in caplog.text
    # The copy was rebuilt; the old key's, left to the workers still running under it (a rolling
    # restart), goes with the gallery's next change.
    assert sorted(snapshot_files(snapshot_folder)) == sorted([before, expected.name])
    synthetic_subjects(gallery.client, 1, seed=6, prefix="next")
    with another_worker():
        gallery_size(fresh(gallery))
    assert [
        f"-v{fresh(gallery).version}-{snapshot_tag(gallery)}" in name for name in snapshot_files(snapshot_folder)
    ] == [True]


def test_an_older_versions_snapshot_is_never_used_as_a_newer_one(gallery, client_row, snapshot_folder, caplog):
    gallery_size(gallery)
    [old] = snapshot_files(snapshot_folder)
    gallery_index.gallery_forget_cached(gallery.pk)
    synthetic_subjects(client_row, 1, seed=8, prefix="later")
    newer = old.replace(f"-v{gallery.version}-", f"-v{fresh(gallery).version}-")
    shutil.copy(snapshot_folder / old, snapshot_folder / newer)
    (snapshot_folder / old).unlink()  # nothing to start from: only the renamed copy

    with caplog.at_level(logging.WARNING, logger="facenition.matching"):
        found = nearest(gallery, vectors_of(1, seed=8)[0])

    assert found.subject_id == client_row.gallery.subjects.get(name="later-0").pk
    assert f"holds gallery {gallery.pk} at version {gallery.version}" in caplog.text
    assert cached_gallery(gallery.pk).full_loads == 1


def _truncated(path):
    os.truncate(path, path.stat().st_size - 4096)


def _altered_row(path):
    with open(path, "r+b") as file:
        file.seek(path.stat().st_size - 30 * 512)
        file.write(b"\x7f" * 512)


def _garbage(path):
    path.write_bytes(os.urandom(8192))


def _rewritten_header(path, change):
    data = bytearray(path.read_bytes())
    start = len(gallery_snapshots.MAGIC) + 4
    (length,) = struct.unpack_from("<I", data, len(gallery_snapshots.MAGIC))
    header = json.dumps(change(json.loads(bytes(data[start : start + length])))).encode()
    data[len(gallery_snapshots.MAGIC) : gallery_snapshots.HEADER_BYTES] = bytes(
        gallery_snapshots.HEADER_BYTES - len(gallery_snapshots.MAGIC)
    )
    data[len(gallery_snapshots.MAGIC) : start + len(header)] = struct.pack("<I", len(header)) + header
    path.write_bytes(bytes(data))


def _header_without_checksum(path):
    _rewritten_header(path, lambda fields: {name: value for name, value in fields.items() if name != "crc32"})


def _header_not_fields(path):
    _rewritten_header(path, lambda fields: [fields])


def _open_to_others(path):
    os.chmod(path, 0o644)


def _open_on(fd, text):
    try:
        return text in os.readlink(f"/proc/self/fd/{fd}")
    except OSError:  # the listing's own descriptor, closed since
        return False


@pytest.mark.parametrize(
    "damage",
    [_truncated, _altered_row, _garbage, _header_without_checksum, _header_not_fields, _open_to_others],
    ids=["truncated", "altered", "garbage", "header without checksum", "header not fields", "open to others"],
)
def test_a_damaged_snapshot_is_ignored_and_built_again(gallery, snapshot_folder, damage, caplog):
    probe = vectors_of(50)[33]
    expected = nearest(gallery, probe)
    gallery_index.gallery_forget_cached(gallery.pk)
    [name] = snapshot_files(snapshot_folder)
    damage(snapshot_folder / name)

    with caplog.at_level(logging.WARNING, logger="facenition.matching"):
        found = nearest(gallery, probe)

    assert found == expected
    assert "unusable" in caplog.text
    assert cached_gallery(gallery.pk).full_loads == 1
    assert not [fd for fd in os.listdir("/proc/self/fd") if _open_on(fd, f"{name} (deleted)")]  # closed
    with another_worker():  # the rebuilt one is whole
        gallery_size(gallery)
        assert cached_gallery(gallery.pk).full_loads == 0


def test_identify_answers_from_a_rebuilt_copy_when_the_snapshot_is_damaged(
    authed, enrolled_gallery, client_row, snapshot_folder
):
    from tests.matching.conftest import gallery_identify

    identity, probes = next(iter(enrolled_gallery.items()))
    assert gallery_identify(authed, probes[0]).status_code == 200
    gallery_index.gallery_forget_cached(client_row.gallery.pk)
    for path in snapshot_folder.glob("*.snapshot"):
        _garbage(path)

    response = gallery_identify(authed, probes[0])

    assert response.status_code == 200, response.json()
    assert response.json()["faces"][0]["candidates"][0]["subject"] == identity


def test_a_snapshot_folder_that_stops_working_falls_back_to_a_copy_per_worker(gallery, snapshot_folder, caplog):
    gallery_size(gallery)  # the folder was fine at start-up
    gallery_index.gallery_forget_cached(gallery.pk)
    shutil.rmtree(snapshot_folder)
    snapshot_folder.write_bytes(b"")  # then something else took its place

    with caplog.at_level(logging.WARNING, logger="facenition.matching"):
        found = nearest(gallery, vectors_of(50)[3])

    assert found.subject_id == gallery.subjects.get(name="synthetic-3").pk
    assert "cannot be used" in caplog.text and "a copy of its own" in caplog.text
    assert cached_gallery(gallery.pk).snapshot is None
    snapshot_folder.unlink()


@pytest.mark.parametrize(
    "make, problem",
    [
        (lambda path: path.write_bytes(b""), "cannot be created"),
        (lambda path: path.mkdir(mode=0o755), "mode 755"),
    ],
    ids=["a file", "open to others"],
)
def test_a_snapshot_folder_that_cannot_hold_snapshots_fails_the_start_up_check(
    settings, snapshot_folder, make, problem
):
    from matching.checks import gallery_snapshot_folder_usable

    path = snapshot_folder / "snapshots"
    make(path)
    os.chmod(path, 0o755) if path.is_dir() else None
    settings.FACENITION_GALLERY_SNAPSHOT_DIR = str(path)

    [error] = gallery_snapshot_folder_usable(None)

    assert error.id == "matching.E009"
    assert error.msg.startswith(f"FACENITION_GALLERY_SNAPSHOT_DIR={path} cannot hold gallery snapshots")
    assert problem in error.msg


def test_a_snapshot_folder_on_disk_fails_the_start_up_check(settings, tmp_path):
    from matching.checks import gallery_snapshot_folder_usable

    settings.FACENITION_GALLERY_SNAPSHOT_DIR = str(tmp_path / "snapshots")

    [error] = gallery_snapshot_folder_usable(None)

    assert "not in memory" in error.msg


def test_the_start_up_check_passes_a_private_folder_in_memory_and_creates_it(settings, snapshot_folder):
    from matching.checks import gallery_snapshot_folder_usable

    settings.FACENITION_GALLERY_SNAPSHOT_DIR = str(snapshot_folder / "new")

    assert gallery_snapshot_folder_usable(None) == []
    assert stat.S_IMODE((snapshot_folder / "new").stat().st_mode) == 0o700


def test_an_evicted_copy_lets_go_of_the_snapshot_which_stays_for_the_other_workers(
    gallery, other_client, snapshot_folder, settings
):
    from credentials.models import Client

    settings.FACENITION_GALLERY_CACHE_GALLERIES = 1
    gallery_size(gallery)
    evicted = cached_gallery(gallery.pk)
    name = evicted.snapshot.path.name
    other = Client.objects.exclude(pk=gallery.client_id).get()
    synthetic_subjects(other, 5, seed=3)

    gallery_size(Gallery.objects.get(client=other))

    assert (cached_gallery(gallery.pk), evicted.snapshot, len(evicted.index)) == (None, None, 0)
    assert name in snapshot_files(snapshot_folder)


def test_a_deleted_gallerys_snapshots_are_removed(
    gallery, client_row, snapshot_folder, django_capture_on_commit_callbacks
):
    from credentials.services import client_delete

    gallery_size(gallery)
    assert snapshot_files(snapshot_folder)

    with django_capture_on_commit_callbacks(execute=True):
        client_delete(client=client_row)

    assert snapshot_files(snapshot_folder) == []
    assert cached_gallery(gallery.pk) is None


def test_snapshots_of_galleries_deleted_elsewhere_are_swept(gallery, snapshot_folder):
    gallery_size(gallery)
    [name] = snapshot_files(snapshot_folder)
    gone = snapshot_folder / name.replace(f"gallery-{gallery.pk}-", "gallery-999999999-")
    shutil.copy(snapshot_folder / name, gone)

    assert gallery_index.gallery_snapshots_sweep() == 1

    assert snapshot_files(snapshot_folder) == [name]


def test_subjects_added_while_the_first_worker_loads_are_in_its_snapshot(gallery, client_row, monkeypatch):
    """The snapshot's matrix has room for 16: the load outgrows it, and copies what it summed into a larger one."""
    from matching.models import Subject

    synthetic_subjects(client_row, 30, seed=4, prefix="late")
    counted = Subject.objects.filter(gallery=gallery).count
    monkeypatch.setattr(gallery_index, "_capacity_for", lambda subjects: 16)
    assert counted() == 80

    assert gallery_size(fresh(gallery)) == 80
    assert nearest(gallery, vectors_of(30, seed=4)[29]).subject_id == gallery.subjects.get(name="late-29").pk
    with another_worker():
        assert gallery_size(fresh(gallery)) == 80
        assert cached_gallery(gallery.pk).full_loads == 0


def test_a_full_snapshot_folder_falls_back_to_a_copy_per_worker(gallery, snapshot_folder, monkeypatch, caplog):
    import errno

    from matching import gallery_snapshots

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(gallery_snapshots.os, "posix_fallocate", full)

    with caplog.at_level(logging.WARNING, logger="facenition.matching"):
        found = nearest(gallery, vectors_of(50)[9])

    assert found.subject_id == gallery.subjects.get(name="synthetic-9").pk
    assert "No space left on device" in caplog.text
    assert cached_gallery(gallery.pk).snapshot is None
    assert [path.name for path in snapshot_folder.iterdir() if not path.name.endswith(".lock")] == []


def test_an_idle_hosts_snapshot_of_a_forgotten_subject_is_swept(gallery, client_row, snapshot_folder):
    vector = vectors_of(50)[7]
    gallery_size(gallery)
    gallery_index.gallery_forget_cached(gallery.pk)  # no worker of this host searches the gallery since
    gallery_forget(client=client_row, subject="synthetic-7")  # on another host: no hook ran here
    assert forgotten_bytes_in(snapshot_folder, vector)

    assert gallery_index.gallery_snapshots_sweep() == 1

    assert forgotten_bytes_in(snapshot_folder, vector) == []
    assert [f"-v{fresh(gallery).version}-" in name for name in snapshot_files(snapshot_folder)] == [True]
    assert gallery_index.gallery_snapshots_sweep() == 0


def test_a_worker_sweeps_on_its_first_gallery_request(gallery, client_row, snapshot_folder, monkeypatch):
    gallery_size(gallery)
    [name] = snapshot_files(snapshot_folder)
    gone = snapshot_folder / name.replace(f"gallery-{gallery.pk}-", "gallery-999999999-")
    shutil.copy(snapshot_folder / name, gone)
    monkeypatch.setattr(gallery_index, "_last_sweep", [float("-inf")])  # a worker just started

    gallery_size(gallery)

    assert not gone.exists()


def test_a_forget_on_a_full_snapshot_folder_still_removes_the_snapshot_of_the_forgotten_subject(
    gallery, client_row, snapshot_folder, monkeypatch, django_capture_on_commit_callbacks, caplog
):
    vector = vectors_of(50)[7]
    forgotten = client_row.gallery.subjects.get(name="synthetic-7").pk
    gallery_size(gallery)

    def full(fd, offset, length):  # no room left for the next version beside the last
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(gallery_snapshots.os, "posix_fallocate", full)
    with (
        caplog.at_level(logging.WARNING, logger="facenition.matching"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        gallery_forget(client=client_row, subject="synthetic-7")

    assert snapshot_files(snapshot_folder) == []
    assert forgotten_bytes_in(snapshot_folder, vector) == []
    assert "No space left" in caplog.text
    assert nearest(gallery, vector).subject_id != forgotten
    assert cached_gallery(gallery.pk).snapshot is None  # a copy of the worker's own, the folder being full


def _killed_while_writing(gallery, snapshot_folder):
    """A worker killed (SIGKILL, the OOM killer) while it writes the gallery's next version."""
    snapshot = cached_gallery(gallery.pk).snapshot
    version, tag = fresh(gallery).version, snapshot_tag(gallery)
    pid = os.fork()
    if pid == 0:
        draft = gallery_snapshots.SnapshotDraft(snapshot_folder, gallery.pk, version + 1, tag, "", len(snapshot.rows))
        draft.ids[:] = snapshot.ids
        draft.rows[:] = snapshot.rows
        os.kill(os.getpid(), 9)
    os.waitpid(pid, 0)


def test_a_writer_killed_mid_write_leaves_nothing_in_the_folder(
    gallery, client_row, snapshot_folder, django_capture_on_commit_callbacks
):
    vector = vectors_of(50)[7]
    gallery_size(gallery)
    [name] = snapshot_files(snapshot_folder)

    _killed_while_writing(gallery, snapshot_folder)

    assert sorted(path.name for path in snapshot_folder.iterdir()) == sorted([name, f"gallery-{gallery.pk}.lock"])
    with django_capture_on_commit_callbacks(execute=True):
        gallery_forget(client=client_row, subject="synthetic-7")
    assert forgotten_bytes_in(snapshot_folder, vector) == []


@pytest.mark.parametrize("by", ["forget", "sweep"])
def test_a_named_draft_left_by_a_killed_writer_is_zeroed_and_removed(
    gallery, client_row, snapshot_folder, monkeypatch, django_capture_on_commit_callbacks, by
):
    """Where the folder cannot hold a file without a name, the draft has a dot name until it is whole."""
    monkeypatch.setattr(gallery_snapshots, "USE_UNNAMED_DRAFTS", False)
    vector = vectors_of(50)[7]
    gallery_size(gallery)
    _killed_while_writing(gallery, snapshot_folder)
    [draft] = snapshot_folder.glob(".gallery-*.tmp")
    assert draft.name in forgotten_bytes_in(snapshot_folder, vector)

    if by == "forget":
        with django_capture_on_commit_callbacks(execute=True):
            gallery_forget(client=client_row, subject="synthetic-7")
    else:
        assert gallery_index.gallery_snapshots_sweep() == 1

    assert not draft.exists()
    if by == "forget":
        assert forgotten_bytes_in(snapshot_folder, vector) == []
    assert len(snapshot_files(snapshot_folder)) == 1


def test_a_failure_after_a_forget_commits_is_logged_and_the_snapshot_still_goes(
    gallery, client_row, snapshot_folder, monkeypatch, django_capture_on_commit_callbacks, caplog
):
    from matching.sealing import SealBroken

    vector = vectors_of(50)[7]
    gallery_size(gallery)

    def broken(*args, **kwargs):
        raise SealBroken("a face does not open")

    monkeypatch.setattr(gallery_index, "_changes_since", broken)
    with (
        caplog.at_level(logging.ERROR, logger="facenition.matching"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        forgotten = gallery_forget(client=client_row, subject="synthetic-7")

    assert forgotten.subjects == 1
    assert "could not all be carried forward" in caplog.text
    assert snapshot_files(snapshot_folder) == []
    assert forgotten_bytes_in(snapshot_folder, vector) == []


def test_a_symbolic_link_under_a_snapshots_name_is_removed_never_followed(gallery, snapshot_folder, tmp_path, caplog):
    gallery_size(gallery)
    gallery_index.gallery_forget_cached(gallery.pk)
    [name] = snapshot_files(snapshot_folder)
    victim = tmp_path / "victim"
    victim.write_bytes((snapshot_folder / name).read_bytes())  # a whole snapshot, elsewhere
    gallery_snapshots.snapshot_destroy(snapshot_folder / name)
    (snapshot_folder / name).symlink_to(victim)
    planted = snapshot_folder / gallery_snapshots.snapshot_name(gallery.pk, 0, "planted")
    planted.symlink_to(victim)

    with caplog.at_level(logging.WARNING, logger="facenition.matching"):
        assert nearest(gallery, vectors_of(50)[3]).subject_id == gallery.subjects.get(name="synthetic-3").pk

    assert victim.read_bytes().startswith(gallery_snapshots.MAGIC)  # never zeroed
    assert not planted.is_symlink() and not (snapshot_folder / name).is_symlink()
    assert cached_gallery(gallery.pk).full_loads == 1  # the planted one was not trusted
    assert "unusable" in caplog.text


def test_a_symbolically_linked_snapshot_folder_fails_the_start_up_check(settings, snapshot_folder, tmp_path):
    from matching.checks import gallery_snapshot_folder_usable

    (tmp_path / "link").symlink_to(snapshot_folder)
    settings.FACENITION_GALLERY_SNAPSHOT_DIR = str(tmp_path / "link")

    [error] = gallery_snapshot_folder_usable(None)

    assert "symbolic link" in error.msg


def test_a_web_process_names_an_unusable_snapshot_folder_in_its_log_at_start(settings, tmp_path, caplog):
    """gunicorn started directly never runs `manage.py check`: the process's start-up does."""
    from facenition.startup import announce_configuration

    settings.FACENITION_GALLERY_SNAPSHOT_DIR = str(tmp_path / "snapshots")

    with caplog.at_level(logging.WARNING, logger="facenition"):
        announce_configuration()

    [record] = [record for record in caplog.records if "matching.E009" in record.getMessage()]
    assert record.levelno == logging.ERROR
    assert f"FACENITION_GALLERY_SNAPSHOT_DIR={tmp_path / 'snapshots'}" in record.getMessage()
    assert "not in memory" in record.getMessage()


def test_a_dropped_copy_zeroes_the_whole_pages_its_writes_made_its_own(gallery, client_row, snapshot_folder):
    """Writing one row of a copy-on-write mapping copies its whole page, neighbours' rows and all."""
    import mmap

    gallery_size(gallery)
    synthetic_subjects(client_row, 1, seed=5, prefix="new")
    gallery_size(fresh(gallery))  # applied in place: the worker's own page now
    loaded = cached_gallery(gallery.pk)
    rows, row = loaded.snapshot.rows, loaded.index.row_of(client_row.gallery.subjects.get(name="new-0").pk)
    start = rows.__array_interface__["data"][0]
    page = (start + row * rows.strides[0]) // mmap.PAGESIZE
    on_page = [r for r in range(len(rows)) if (start + r * rows.strides[0]) // mmap.PAGESIZE == page]
    neighbours = [r for r in on_page if r != row and loaded.index._ids[r] >= 0]
    assert neighbours and rows[neighbours].any()

    gallery_index.gallery_forget_cached(gallery.pk)

    assert not rows[on_page].any()
    assert rows[0 : on_page[0] - 8].any()  # the file's pages, which other workers map, stay


@pytest.mark.parametrize("changes", [1, 2], ids=["as the version", "as the base of the next"])
def test_a_snapshot_of_a_version_a_database_restore_undid_is_never_used(
    gallery, client_row, snapshot_folder, settings, caplog, changes
):
    """A restore (or a failover onto a replica that lagged) takes the gallery back a version; the
    host's snapshots survive (the workers restarted, the host did not), and the next change reuses
    the version number: its snapshot is neither used at that version nor carried forward to the next."""
    from matching.galleries import gallery_enroll_embeddings

    backup = Gallery.objects.filter(pk=gallery.pk).values("version", "removals", "removals_from", "stamps").get()
    synthetic_subjects(client_row, 1, seed=7, prefix="lost")  # made after the backup: lost with the restore
    gallery_size(fresh(gallery))
    [undone] = snapshot_files(snapshot_folder)
    gallery_index.gallery_forget_cached(gallery.pk)  # the workers restarted
    gallery.subjects.filter(name="lost-0").delete()
    Gallery.objects.filter(pk=gallery.pk).update(**backup)

    newcomer = vectors_of(1, seed=99)[0]
    gallery_enroll_embeddings(
        client=client_row,
        subjects=[("newcomer", [newcomer])],
        model_name=settings.FACENITION_MODEL,
        detector_name="dlib",
    )
    assert f"-v{fresh(gallery).version}-" in undone  # the same number, of another history
    if changes == 2:
        synthetic_subjects(client_row, 1, seed=8, prefix="after")

    with caplog.at_level(logging.WARNING, logger="facenition.matching"):
        found = nearest(gallery, newcomer)

    assert found.subject_id == gallery.subjects.get(name="newcomer").pk
    assert "another history" in caplog.text
    assert gallery_size(fresh(gallery)) == 50 + changes
    assert not gallery.subjects.filter(name="lost-0").exists()
    assert cached_gallery(gallery.pk).full_loads == 1  # from PostgreSQL, not from the undone snapshot


def test_a_gallery_remembers_its_recent_versions_stamps_only(gallery):
    from matching.models import STAMPS_KEPT

    row = fresh(gallery)
    first = row.version
    for _ in range(STAMPS_KEPT + 1):
        row.record_change()

    assert len(row.stamp_at(row.version)) == 8 and row.stamp_at(row.version) != row.stamp_at(row.version - 1)
    assert row.stamp_at(row.version - STAMPS_KEPT + 1) is not None
    assert row.stamp_at(first) is None  # forgotten: a snapshot of it is not carried forward
    assert row.stamp_at(row.version + 1) is None
    assert fresh(gallery).stamps == row.stamps
