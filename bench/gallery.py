"""Galleries: 1:N identification at 1k, 10k, 100k and 1M faces, beyond the face pipeline.

    python -m bench.gallery [--sizes 1000,10000,100000,1000000] [--database-url URL] [--queries 60]
                            [--deepface-sizes 1000,10000,100000] [--skip-approximate] [--workers 4]
                            [--snapshot-dir FOLDER]

It migrates the benchmark database, reads the shared faces once with the pipeline, and for each size
enrolls a gallery through `gallery_enroll_embeddings`: 2 real photos of each of 10 people (as in the
tests) plus random unit vectors as distractors, one face each, up to the size. Then it measures:

- **identify beyond the pipeline**: what `/gallery/identify` does once the photo is read: read the
  gallery row, bring this worker's copy up to date, search, look the names up (`gallery_nearest`),
  for the other photos of the 10 people and photos of 5 people never enrolled;
- **memory**: the index's own bytes and the process's RSS growth once the gallery is loaded, against
  the raw float32 size (subjects x 128 x 4 bytes), and the peak RSS growth while loading;
- **loading and reloading**: the first load from PostgreSQL (cold worker), and the next search after
  another worker enrolled one subject, or forgot one (the version counter's incremental refresh);
- **the approximate index** (faiss IVF-Flat, `FACENITION_GALLERY_INDEX=ivf`) on the same rows: build
  time, search time, memory, and recall@1 against exact search for the real probes, for probes
  placed next to random distractors (each at the distance a genuine photo lies from its subject),
  and for strangers (whose nearest row is no candidate at any level, so a miss there costs nothing);
- **deepface's own search** on the same faces, side by side: its postgres backend (`embeddings`
  table of FLOAT8[] rows, what `DeepFace.register` writes), `DeepFace.search` exact and ann, with
  its embedding step replaced by the probe's embedding so that only its search is timed;
- **workers of one host** (`--workers 4`): that many processes forked from this one, each a worker
  that loads the same gallery (one after the other, the host's snapshots removed first) and
  searches it, once with a copy per worker (FACENITION_GALLERY_SNAPSHOT_DIR empty) and once sharing
  the host's snapshot: each one's load time and identify p50, and the memory each one's load added,
  as PSS (a page shared by n processes counts 1/n in each, so the sum is what the host holds) and as
  RSS (which counts a shared page in every process that maps it); then the next search after an
  enroll (applied in place) and after a forget (a new snapshot, written by the forgetting process).

The workers are measured in memory; the memory column of the first table is a copy of the worker's
own (no snapshot), as a worker without FACENITION_GALLERY_SNAPSHOT_DIR holds it.

It only prints figures: nothing here passes or fails.
"""

import os

# One BLAS thread, as each of the Procfile's two gunicorn workers on two cores gets: set before
# anything imports numpy.
for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")

from bench.common import require_module_run  # noqa: E402

require_module_run(__package__)

import argparse  # noqa: E402
import ctypes  # noqa: E402
import gc  # noqa: E402
import multiprocessing  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/facenition_bench"
SIZES = (1_000, 10_000, 100_000, 1_000_000)
DEEPFACE_SIZES = (1_000, 10_000, 100_000)
ENROLLED_PEOPLE = 10
# Each near-distractor probe lies this far (cosine distance) from its distractor: a genuine photo's
# typical distance from its subject's mean face in the shared set.
NEAR_DISTANCE = 0.025


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL))
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--deepface-sizes", default=",".join(map(str, DEEPFACE_SIZES)))
    parser.add_argument("--queries", type=int, default=60, help="searches timed per size and method")
    parser.add_argument("--skip-approximate", action="store_true")
    parser.add_argument("--workers", type=int, default=4, help="worker processes sharing a host; 0 skips them")
    parser.add_argument(
        "--snapshot-dir", default="", help="the workers' snapshot folder (default FACENITION_GALLERY_SNAPSHOT_DIR)"
    )
    return parser.parse_args()


ARGS = parse_args()
os.environ["DATABASE_URL"] = ARGS.database_url
os.environ.setdefault("DEEPFACE_LOG_LEVEL", "40")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "facenition.settings")

from bench.over_http import prepare_database  # noqa: E402

prepare_database(ARGS.database_url)

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from django.conf import settings  # noqa: E402

from bench.common import load, machine, percentile, table  # noqa: E402
from credentials.services import client_delete, client_token_issue  # noqa: E402
from facenition.faceset import labelled_photos  # noqa: E402
from matching.accuracy import (  # noqa: E402
    MATCH_THRESHOLDS,
    MAX_ACCURACY,
    MIN_ACCURACY,
    identification_threshold,
    largest_gallery,
)
from matching.galleries import gallery_enroll_embeddings, gallery_forget, gallery_nearest, owner_of  # noqa: E402
from matching.gallery_index import (  # noqa: E402
    cached_gallery,
    gallery_forget_cached,
    gallery_size,
    gallery_snapshots_deleted,
)
from matching.models import Gallery  # noqa: E402
from matching.pipeline import cosine_distance, decode_image  # noqa: E402
from matching.reading import face_pipeline  # noqa: E402
from matching.search import IvfIndex, unit_rows  # noqa: E402


def rss_bytes(field="VmRSS"):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(field)


def reset_peak():
    Path("/proc/self/clear_refs").write_text("5")


def proc_memory(pid):
    """(PSS, RSS) of a process, in bytes, from /proc/PID/smaps_rollup."""
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("Pss", "Rss"):
            fields[name] = int(value.split()[0]) * 1024
    return fields["Pss"], fields["Rss"]


def release_memory():
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)


def mb(n):
    return f"{n / 1024 / 1024:,.0f}"


def ms(seconds):
    return f"{seconds * 1000:.1f}" if seconds < 0.1 else f"{seconds * 1000:,.0f}"


class Faces:
    """The shared faces, read once: 2 photos of each of 10 people to enroll, their other photos and
    photos of 5 people never enrolled to probe with."""

    def __init__(self):
        pipeline = face_pipeline().load()
        people = {}
        for photo in labelled_photos(settings.FACENITION_FACES_DIR):
            if not photo.shows_one_known_person or "480p" in photo.file or "1080p" in photo.file:
                continue
            largest = pipeline.analyse(decode_image(photo.file, photo.read()).pixels).largest
            if largest is not None:
                people.setdefault(photo.identity, []).append(largest.embedding)
        ranked = sorted(people, key=lambda identity: (-len(people[identity]), identity))
        self.enrolled, self.genuine = {}, []
        for identity in ranked[:ENROLLED_PEOPLE]:
            # The first photo and the next one /gallery/enroll's consistency check accepts, as in the tests.
            first, *others = people[identity]
            second = next(
                i
                for i, e in enumerate(others)
                if cosine_distance(first, e) <= MATCH_THRESHOLDS[settings.FACENITION_MODEL][MIN_ACCURACY]
            )
            self.enrolled[identity] = [first, others[second]]
            self.genuine += [(identity, e) for i, e in enumerate(others) if i != second]
        self.strangers = [e for identity in ranked[ENROLLED_PEOPLE:] for e in people[identity]]


def distractors(count, seed):
    rng = np.random.default_rng(seed)
    for start in range(0, count, 10_000):
        block = unit_rows(rng.standard_normal((min(10_000, count - start), 128)))
        yield from block


def enroll(owner, faces, size, seed):
    real = list(faces.enrolled.items())
    count = size - sum(len(photos) for _, photos in real)
    subjects = [*real, *((f"distractor-{i}", [v]) for i, v in enumerate(distractors(count, seed)))]
    started = time.perf_counter()
    added = gallery_enroll_embeddings(
        client=owner, subjects=iter(subjects), model_name=settings.FACENITION_MODEL, detector_name="dlib"
    )
    return added, time.perf_counter() - started


def timed_searches(owner, probes, queries):
    times, answers = [], []
    for i in range(queries):
        probe = probes[i % len(probes)]
        started = time.perf_counter()
        gallery = Gallery.objects.get(client=owner)
        _, found = gallery_nearest(gallery=gallery, embeddings=[probe], limit=1)
        times.append(time.perf_counter() - started)
        answers.append(found[0][0].subject if found[0] else None)
    return times, answers


def near_probes(index_rows, count, seed):
    """Probes NEAR_DISTANCE from random rows: where a genuine photo lies from its subject."""
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(index_rows), size=count, replace=False)
    noise = unit_rows(rng.standard_normal((count, 128)))
    rows = index_rows[chosen]
    noise -= (noise * rows).sum(axis=1, keepdims=True) * rows  # orthogonal to the row
    noise = unit_rows(noise)
    angle = np.arccos(1 - NEAR_DISTANCE)
    return chosen, np.cos(angle) * rows + np.sin(angle) * noise


def new_owner(name):
    from credentials.services import client_token_find

    _, raw_token = client_token_issue(name=name)
    return owner_of(client_token_find(raw=raw_token))


def measure_shared_faces(faces):
    """The tests' gallery (2 photos of each of 10 people) at every level, scored 1:N as identify scores it."""
    owner = new_owner("bench gallery of the shared faces")
    gallery_enroll_embeddings(
        client=owner, subjects=iter(faces.enrolled.items()), model_name=settings.FACENITION_MODEL, detector_name="dlib"
    )
    gallery = Gallery.objects.get(client=owner)
    subjects, genuine = gallery_nearest(gallery=gallery, embeddings=[e for _, e in faces.genuine], limit=1)
    _, strangers = gallery_nearest(gallery=gallery, embeddings=faces.strangers, limit=1)
    rows = []
    for level in range(MIN_ACCURACY, MAX_ACCURACY + 1):
        threshold = identification_threshold(level, subjects, settings.FACENITION_MODEL)
        if threshold is None:
            rows.append([level, "—", "too large", "", "", ""])
            continue
        right = sum(
            found[0].subject == identity and found[0].distance <= threshold
            for (identity, _), found in zip(faces.genuine, genuine, strict=True)
        )
        wrong = sum(
            found[0].subject != identity and found[0].distance <= threshold
            for (identity, _), found in zip(faces.genuine, genuine, strict=True)
        )
        named = sum(found[0].distance <= threshold for found in strangers)
        rows.append([level, f"{threshold:.4f}", f"{right / len(genuine):.0%} ({right} of {len(genuine)})", wrong,
                     f"{named} of {len(strangers)}", f"{largest_gallery(level):,}"])  # fmt: skip
    gallery_forget_cached(gallery.pk)
    client_delete(client=owner)
    return subjects, rows


def measure_size(faces, size, queries, run_approximate):
    owner = new_owner(f"bench gallery {size}")
    added, enroll_seconds = enroll(owner, faces, size, seed=size)
    gallery = Gallery.objects.get(client=owner)
    row = {"size": size, "faces": added, "enroll_s": enroll_seconds}
    shared_dir, settings.FACENITION_GALLERY_SNAPSHOT_DIR = settings.FACENITION_GALLERY_SNAPSHOT_DIR, ""

    release_memory()
    before = rss_bytes()
    reset_peak()
    started = time.perf_counter()
    subjects = gallery_size(gallery)
    row["load_s"] = time.perf_counter() - started
    release_memory()
    row["subjects"] = subjects
    row["rss_growth"] = rss_bytes() - before
    row["peak_growth"] = rss_bytes("VmHWM") - before
    loaded = cached_gallery(gallery.pk)
    row["index_bytes"] = loaded.index.nbytes
    row["raw_bytes"] = subjects * 128 * 4

    genuine = [e for _, e in faces.genuine]
    times, _ = timed_searches(owner, genuine + faces.strangers, queries)
    row["p50"], row["p95"] = percentile(times, 50), percentile(times, 95)
    _, nearest = timed_searches(owner, genuine, len(genuine))
    row["rank1"] = np.mean([seen == identity for seen, (identity, _) in zip(nearest, faces.genuine, strict=True)])

    # Another worker enrolls one subject, then forgets one: this worker's next search catches up.
    gallery_enroll_embeddings(
        client=owner, subjects=iter([("late-arrival", [next(distractors(1, seed=-size % 97))])]),
        model_name=settings.FACENITION_MODEL, detector_name="dlib",
    )  # fmt: skip
    refresh, _ = timed_searches(owner, genuine, 1)
    gallery_forget(client=owner, subject="distractor-3")
    forget_refresh, _ = timed_searches(owner, genuine, 1)
    row["after_enroll"], row["after_forget"] = refresh[0], forget_refresh[0]
    assert cached_gallery(gallery.pk).full_loads == 1, "a change reloaded the whole gallery"

    if run_approximate:
        row.update(measure_approximate(loaded.index, genuine, faces, queries, size))
    gallery_forget_cached(gallery.pk)
    settings.FACENITION_GALLERY_SNAPSHOT_DIR = shared_dir
    if ARGS.workers:
        row["workers"] = {
            mode: measure_workers(owner, gallery.pk, genuine + faces.strangers, queries, ARGS.workers, folder)
            for mode, folder in (("a copy per worker", ""), ("one snapshot per host", ARGS.snapshot_dir or shared_dir))
        }
    client_delete(client=owner)
    release_memory()
    return row


def worker_process(connection, gallery_pk, owner, probes, queries):
    """One worker of the host: loads the gallery, searches it, and answers what it is told to do."""
    gallery = Gallery.objects.get(pk=gallery_pk)
    gallery.subjects.count()  # its own database connection and the ORM's paths, before the baseline
    # A collection writes to every object it tracks: the pages this process shares with its parent
    # become its own now, not during the load measured next.
    release_memory()
    connection.send("ready")
    while (order := connection.recv()) != "exit":
        started = time.perf_counter()
        if order == "load":
            gallery_size(Gallery.objects.get(pk=gallery_pk))
            loaded = time.perf_counter() - started
            release_memory()  # what the load freed goes back, as it does before the main table's RSS
            connection.send(loaded)
        elif order == "search":
            times, _ = timed_searches(owner, probes, queries)
            connection.send(percentile(times, 50))
        elif order == "one search":
            times, _ = timed_searches(owner, probes, 1)
            connection.send(times[0])
    connection.close()


def measure_workers(owner, gallery_pk, probes, queries, count, folder):
    """`count` forked workers load the gallery one after the other on a host whose snapshots were
    removed, search it, then take an enroll and a forget made elsewhere."""
    settings.FACENITION_GALLERY_SNAPSHOT_DIR = folder
    gallery_snapshots_deleted(gallery_pk)  # a cold host: no snapshot, no copy in this process
    release_memory()
    from django.db import connections

    connections.close_all()  # each worker opens its own
    context = multiprocessing.get_context("fork")
    workers = []
    for _ in range(count):
        ours, theirs = context.Pipe()
        process = context.Process(target=worker_process, args=(theirs, gallery_pk, owner, probes, queries))
        process.start()
        workers.append((process, ours))
    for _, pipe in workers:
        assert pipe.recv() == "ready"
    before = [proc_memory(process.pid) for process, _ in workers]

    def ask(worker, order):
        worker[1].send(order)
        return worker[1].recv()

    result = {"load_s": [ask(worker, "load") for worker in workers]}
    result["p50"] = [ask(worker, "search") for worker in workers]
    after = [proc_memory(process.pid) for process, _ in workers]
    result["pss"] = [a[0] - b[0] for a, b in zip(after, before, strict=True)]
    result["rss"] = [a[1] - b[1] for a, b in zip(after, before, strict=True)]
    result["snapshot_bytes"] = sum(
        path.stat().st_blocks * 512 for path in Path(folder).glob(f"gallery-{gallery_pk}-*.snapshot")
    ) if folder else 0  # fmt: skip

    gallery_enroll_embeddings(
        client=owner, subjects=iter([("worker-arrival", [next(distractors(1, seed=11))])]),
        model_name=settings.FACENITION_MODEL, detector_name="dlib",
    )  # fmt: skip
    result["after_enroll"] = ask(workers[0], "one search")
    started = time.perf_counter()
    gallery_forget(client=owner, subject="worker-arrival")
    result["forget_s"] = time.perf_counter() - started  # with a snapshot: the next one written here
    result["after_forget"] = [ask(workers[0], "one search"), ask(workers[1], "one search")]
    for process, pipe in workers:
        pipe.send("exit")
        process.join()
    gallery_snapshots_deleted(gallery_pk)
    settings.FACENITION_GALLERY_SNAPSHOT_DIR = folder
    return result


def measure_approximate(exact, genuine, faces, queries, seed):
    ids, rows = exact.live()
    release_memory()
    before = rss_bytes()
    started = time.perf_counter()
    approximate = IvfIndex(ids, rows)
    build = time.perf_counter() - started
    grown = rss_bytes() - before
    probes = genuine + faces.strangers
    times = []
    for i in range(queries):
        started = time.perf_counter()
        approximate.search(probes[i % len(probes)], 1)
        times.append(time.perf_counter() - started)
    exact_times = []
    for i in range(queries):
        started = time.perf_counter()
        exact.search(probes[i % len(probes)], 1)
        exact_times.append(time.perf_counter() - started)

    def recall(index, probes_):
        return np.mean([exact.search(p, 1)[0].subject_id == index.search(p, 1)[0].subject_id for p in probes_])

    _, near = near_probes(rows, 300, seed)
    result = {
        "approx_build_s": build,
        "approx_shape": f"{approximate.lists:,} / {approximate.probes}",
        "approx_p50": percentile(times, 50),
        "approx_p95": percentile(times, 95),
        "exact_search_p50": percentile(exact_times, 50),
        "approx_bytes": approximate.nbytes,
        "approx_rss": grown,
        "recall_genuine": recall(approximate, genuine),
        "recall_near": recall(approximate, list(near)),
        "recall_strangers": recall(approximate, faces.strangers),
    }
    del approximate
    release_memory()
    return result


def measure_deepface(faces, size, queries):
    """deepface's postgres backend on the same faces: its `embeddings` table filled as `register`
    fills it, then `DeepFace.search` with its embedding step replaced by the probe's embedding."""
    import psycopg
    from deepface import DeepFace
    from deepface.modules import datastore

    url = ARGS.database_url.replace("postgres://", "postgresql://", 1)
    connection = psycopg.connect(url)
    connection.execute("DROP TABLE IF EXISTS embeddings, embeddings_index")
    connection.commit()
    datastore_postgres = __import__("deepface.modules.database.postgres", fromlist=["PostgresClient"])
    datastore_postgres._SCHEMA_CHECKED.clear()
    datastore_postgres.PostgresClient(connection=connection)
    faces_in = [(identity, e) for identity, photos in faces.enrolled.items() for e in photos]
    count = size - len(faces_in)
    with connection.cursor() as cursor:
        columns = "img_name, face, face_shape, model_name, detector_backend, aligned, l2_normalized, embedding, face_hash, embedding_hash"
        with cursor.copy(f"COPY embeddings ({columns}) FROM STDIN") as copy:
            rows = [*faces_in, *((f"distractor-{i}", v) for i, v in enumerate(distractors(count, seed=size)))]
            for i, (name, embedding) in enumerate(rows):
                copy.write_row(
                    (name, b"\0", [1, 1], "Dlib", "dlib", True, False, [float(x) for x in embedding], f"f{i}", f"e{i}")
                )
    connection.commit()

    probe_holder = {}

    def embedding_of_probe(**kwargs):
        return [{"embedding": list(map(float, probe_holder["probe"])), "facial_area": {}, "img_index": 0}]

    datastore.__dict__["__get_embeddings"] = embedding_of_probe
    probes = [e for _, e in faces.genuine] + faces.strangers
    results = {}
    blank = np.zeros((8, 8, 3), dtype=np.uint8)
    for method in ("exact", "ann"):
        if method == "ann":
            started = time.perf_counter()
            DeepFace.build_index(
                model_name="Dlib", detector_backend="dlib", database_type="postgres", connection=connection
            )
            results["ann_build_s"] = time.perf_counter() - started
        times = []
        runs = max(3, queries // (10 if size >= 100_000 else 1)) if method == "exact" else queries
        for i in range(runs):
            probe_holder["probe"] = probes[i % len(probes)]
            started = time.perf_counter()
            DeepFace.search(
                img=blank, model_name="Dlib", detector_backend="dlib", distance_metric="cosine",
                database_type="postgres", connection=connection, search_method=method, k=1,
            )  # fmt: skip
            times.append(time.perf_counter() - started)
        results[f"{method}_p50"], results[f"{method}_runs"] = percentile(times, 50), runs
    connection.execute("DROP TABLE IF EXISTS embeddings, embeddings_index")
    connection.commit()
    connection.close()
    release_memory()
    return results


def main():
    sizes = [int(s) for s in ARGS.sizes.split(",") if s]
    deepface_sizes = [int(s) for s in ARGS.deepface_sizes.split(",") if s]
    print(f"machine: {machine()}")
    started = time.perf_counter()
    faces = Faces()
    print(
        f"shared faces: {len(faces.enrolled)} people enrolled with 2 photos each; {len(faces.genuine)} other photos of "
        f"them and {len(faces.strangers)} photos of people never enrolled as probes ({time.perf_counter() - started:.0f} s)"
    )
    subjects, levels = measure_shared_faces(faces)
    print(f"\nThe shared faces: a gallery of {subjects} people (2 photos each), every level scored 1:N:\n")
    print(
        table(
            ["level", "cosine distance ≤ (1:N)", "other photos identified, right person first", "wrong person first",
             "strangers given a candidate", "largest gallery the level holds"],
            levels,
        )
    )  # fmt: skip
    rows = []
    for size in sizes:
        row = measure_size(faces, size, ARGS.queries, run_approximate=not ARGS.skip_approximate)
        if size in deepface_sizes:
            row.update(measure_deepface(faces, size, ARGS.queries))
        rows.append(row)
        print(f"  {size:,} faces done ({load()})", flush=True)

    if rows:
        print_size_tables(rows)
    print(f"\n{load()}")


def print_size_tables(rows):
    print("\nIdentify beyond the pipeline (exact search, this server), memory and reloads:\n")
    print(
        table(
            ["faces", "subjects", "enroll s", "identify p50 ms", "p95 ms", "rank-1 (real probes)", "raw float32 MB",
             "index MB", "RSS growth MB", "÷ raw", "peak while loading MB", "cold load s", "next search after an enroll elsewhere ms",
             "after a forget elsewhere ms"],
            [
                [f"{r['faces']:,}", f"{r['subjects']:,}", f"{r['enroll_s']:.0f}", ms(r["p50"]), ms(r["p95"]), f"{r['rank1']:.0%}",
                 mb(r["raw_bytes"]), mb(r["index_bytes"]), mb(r["rss_growth"]), f"{r['rss_growth'] / r['raw_bytes']:.2f}×",
                 mb(r["peak_growth"]), f"{r['load_s']:.1f}", ms(r["after_enroll"]), ms(r["after_forget"])]
                for r in rows
            ],
        )
    )  # fmt: skip
    if not ARGS.skip_approximate:
        print(
            "\nApproximate index (faiss IVF-Flat, FACENITION_GALLERY_INDEX=ivf) on the same rows, against exact search:\n"
        )
        print(
            table(
                ["faces", "groups / scanned", "build s", "search p50 ms", "p95 ms", "exact search p50 ms", "index MB", "÷ raw",
                 "recall@1 real probes", "recall@1 near distractors", "recall@1 strangers"],
                [
                    [f"{r['faces']:,}", r["approx_shape"], f"{r['approx_build_s']:.1f}", ms(r["approx_p50"]), ms(r["approx_p95"]), ms(r["exact_search_p50"]),
                     mb(r["approx_bytes"]), f"{r['approx_bytes'] / r['raw_bytes']:.2f}×", f"{r['recall_genuine']:.3f}",
                     f"{r['recall_near']:.3f}", f"{r['recall_strangers']:.3f}"]
                    for r in rows
                ],
            )
        )  # fmt: skip
    print_workers_table(rows)
    compared = [r for r in rows if "exact_p50" in r]
    if compared:
        print("\ndeepface 0.0.103's own search (postgres backend) on the same faces, its embedding step skipped:\n")
        print(
            table(
                ["faces", "this server p50 ms", "DeepFace.search exact p50 ms", "runs", "÷ ours", "build_index s",
                 "DeepFace.search ann p50 ms", "÷ ours"],
                [
                    [f"{r['faces']:,}", ms(r["p50"]), ms(r["exact_p50"]), r["exact_runs"], f"{r['exact_p50'] / r['p50']:,.0f}×",
                     f"{r['ann_build_s']:.1f}", ms(r["ann_p50"]), f"{r['ann_p50'] / r['p50']:,.0f}×"]
                    for r in compared
                ],
            )
        )  # fmt: skip


def print_workers_table(rows):
    measured = [r for r in rows if "workers" in r]
    if not measured:
        return
    print(
        f"\nWorkers of one host ({ARGS.workers} processes forked from this one, loading one after the other): memory "
        "is what each one's load added, PSS summed (a shared page counted once across them) and RSS summed "
        "(counted in every process that maps it); one copy is a worker's own copy's PSS:\n"
    )
    table_rows = []
    for r in measured:
        one_copy = np.mean(r["workers"]["a copy per worker"]["pss"])
        for mode, w in r["workers"].items():
            table_rows.append([
                f"{r['faces']:,}", mode, " / ".join(f"{s:.2f}" for s in w["load_s"]),
                " / ".join(ms(s) for s in w["p50"]), " / ".join(mb(b) for b in w["pss"]), mb(sum(w["pss"])),
                f"{sum(w['pss']) / one_copy:.2f}×", mb(sum(w["rss"])), mb(w["snapshot_bytes"]) if w["snapshot_bytes"] else "—",
                ms(w["after_enroll"]), f"{w['forget_s'] * 1000:,.0f}", " / ".join(ms(s) for s in w["after_forget"]),
            ])  # fmt: skip
    print(
        table(
            ["faces", "workers", "load s, each", "identify p50 ms, each", "PSS added MB, each", "PSS summed MB",
             "÷ one copy", "RSS summed MB", "snapshot file MB", "next search after an enroll ms",
             "forget ms (with the next snapshot)", "next search after the forget ms (1st / 2nd worker)"],
            table_rows,
        )
    )  # fmt: skip


if __name__ == "__main__":
    main()
