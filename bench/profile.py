"""Where a `/generate` of three photos spends its CPU time, part by part, under both schedules.

    python -m bench.profile [--database-url URL] [--requests 10]

In process, through Django's test client against the benchmark database, after two warm-up
requests: cProfile with CPU time as its clock over `--requests` requests of `/generate` with three
1–2 MP photos of one person. Photos are read one after the other here (FACENITION_PHOTO_THREADS=1),
since cProfile follows one thread; `bench.speed` times them side by side. Each of dlib's two
detector passes is counted apart. It only prints figures.
"""

from bench.common import require_module_run

require_module_run(__package__)

import argparse  # noqa: E402
import cProfile  # noqa: E402
import os  # noqa: E402
import pstats  # noqa: E402
import time  # noqa: E402

from bench.common import load, table  # noqa: E402
from bench.over_http import DEFAULT_DATABASE_URL, PROBE, REFERENCE, THIRD, bench_setup  # noqa: E402


def plain_pass(detect, pipeline, small, reader):
    return detect(pipeline, small, reader, upsample=0)


def upsampled_pass(detect, pipeline, small, reader):
    return detect(pipeline, small, reader, upsample=1)


# (part, how cProfile names it, whether its time is cumulative rather than its own)
PARTS = [
    ("dlib HOG, plain pass", "plain_pass", True),
    ("dlib HOG, upsampled pass", "upsampled_pass", True),
    ("dlib ResNet descriptor", "compute_face_descriptor", False),
    ("landmarks and aligned chip", ("shape_predictor", "get_face_chip"), False),
    ("decode (PIL, EXIF, RGB array)", "decode_image", True),
    ("downscale for detection (OpenCV)", "_downscale", True),
    ("sharpness of the face", "sharpness", True),
    ("identity token: template, code, MAC (commit)", "commit", True),
    ("enrollment issued besides the token: keys, row INSERT", "_enrollment_issue", True),
]


def seconds_of(stats, names, cumulative):
    names = (names,) if isinstance(names, str) else names
    total = 0.0
    for (_, _, function), (_, _, own, cumul, _) in stats.stats.items():
        if any(function == name or function.endswith(f" {name}>") or function.endswith(f".{name}>") for name in names):
            total += cumul if cumulative else own
    return total


def profile(schedule, faces_dir, requests):
    from django.conf import settings
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client as TestClient

    from matching.pipeline import FacePipeline

    settings.FACENITION_DETECT_SCHEDULE = schedule
    settings.FACENITION_PHOTO_THREADS = 1
    detect = FacePipeline._detect_dlib

    def counted(pipeline, small, reader, *, upsample):
        return (upsampled_pass if upsample else plain_pass)(detect, pipeline, small, reader)

    FacePipeline._detect_dlib = counted
    try:
        http = TestClient(HTTP_HOST="127.0.0.1")
        token = http.post("/generateToken", {"name": "profile"}).json()["token"]
        photos = {name: (faces_dir / name).read_bytes() for name in (PROBE, REFERENCE, THIRD)}

        def generate():
            images = [SimpleUploadedFile(name, content) for name, content in photos.items()]
            response = http.post("/generate", {"image": images, "accuracy": "4"}, HTTP_X_AUTH_TOKEN=token)
            assert response.status_code == 201, response.content

        generate()
        generate()
        profiler = cProfile.Profile(time.process_time)
        started = time.process_time()
        profiler.enable()
        for _ in range(requests):
            generate()
        profiler.disable()
        total = (time.process_time() - started) / requests
    finally:
        FacePipeline._detect_dlib = detect
    stats = pstats.Stats(profiler)
    parts = {name: seconds_of(stats, names, cumulative) / requests for name, names, cumulative in PARTS}
    parts[PARTS[-1][0]] -= parts[PARTS[-2][0]]  # the time includes the commitment's
    parts["the rest: Django, DRF, multipart, token check, database"] = total - sum(parts.values())
    return total, parts


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--requests", type=int, default=10, help="profiled requests per schedule (default 10)")
    args = parser.parse_args()
    os.environ.setdefault("REDIS_URL", "")
    faces_dir, _ = bench_setup(args.database_url)
    from matching.reading import face_pipeline

    face_pipeline().warm_up()
    results = {schedule: profile(schedule, faces_dir, args.requests) for schedule in ("thorough", "cheap-first")}
    print(f"\n/generate of {PROBE}, {REFERENCE} and {THIRD}, CPU ms per request ({args.requests} requests each)\n")
    names = list(next(iter(results.values()))[1])
    rows = []
    for name in names:
        row = [name]
        for total, parts in results.values():
            row += [f"{parts[name] * 1000:.0f}", f"{parts[name] / total:.0%}"]
        rows.append(row)
    rows.append(["total", *[cell for total, _ in results.values() for cell in (f"{total * 1000:.0f}", "")]])
    header = ["part"]
    for schedule in results:
        header += [f"{schedule} ms", "share"]
    print(table(header, rows))
    print(f"\nat the end: {load()}")


if __name__ == "__main__":
    main()
