"""Before and after the detection schedule and photos side by side, over HTTP, in one run.

    python -m bench.speed [--database-url URL] [--redis-url URL] [--requests 30] [--seconds 45]

For each set-up it starts the server as the Procfile does (2 workers, preload) on a free port:

- "before": FACENITION_DETECT_SCHEDULE=thorough, FACENITION_PHOTO_THREADS=1 (every photo through
  dlib's upsampled pass, one photo at a time: the server as it was);
- "cheap-first, one photo at a time" and "cheap-first, 2 photos side by side" (on a spare core when
  one is free): the detection schedule alone, then with photos side by side.

and measures, on an otherwise idle server: `/match` of two 1–2 MP photos of one person (p50, p95),
`/generate` of three photos of that person (p50, p95), then `/match` throughput with 4 clients,
errors, and each worker's peak RSS. The yardstick is dlib used by hand (`bench.pipeline`'s
baseline: upsampled HOG, landmarks and descriptor) on the same two photos, run twice in this process
one after the other, as a user's own code would. It is timed between the set-ups, so that both
set-ups are compared with the machine as it was around them.

deepface's own API server (`deepface/api/src/app.py`, `/verify` with model Dlib and detector dlib)
is measured on the same pairs when Flask is installed; deepface does not declare Flask, and without
it the table says so. It only prints figures: nothing here passes or fails.
"""

from bench.common import require_module_run

require_module_run(__package__)

import argparse  # noqa: E402
import base64  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

from bench.common import ROOT, load, percentile, table  # noqa: E402
from bench.over_http import (  # noqa: E402
    PROBE,
    REFERENCE,
    REQUEST_TIMEOUT,
    THIRD,
    VENV_BIN,
    Server,
    Setup,
    add_server_arguments,
    bench_setup,
    client_token,
    concurrently,
    free_port,
    memory,
    multipart,
    post,
)

SETUPS = {
    "before": {"FACENITION_DETECT_SCHEDULE": "thorough", "FACENITION_PHOTO_THREADS": "1"},
    "cheap-first, one photo at a time": {"FACENITION_DETECT_SCHEDULE": "cheap-first", "FACENITION_PHOTO_THREADS": "1"},
    "cheap-first, 2 photos side by side": {
        "FACENITION_DETECT_SCHEDULE": "cheap-first",
        "FACENITION_PHOTO_THREADS": "2",
    },
}
CLIENTS = 4


class Endpoint:
    """One request, built once and sent again and again."""

    def __init__(self, port, path, token, fields, files):
        self.port, self.path = port, path
        self.body, content_type = multipart(fields, files)
        self.headers = {"X-Auth-Token": token, "Content-Type": content_type}

    def match(self):  # the name concurrently() calls
        return post(self.port, self.path, self.body, self.headers)


def photos(faces_dir, *names):
    return [(faces_dir / name).read_bytes() for name in names]


def match_endpoint(port, faces_dir):
    probe, reference = photos(faces_dir, PROBE, REFERENCE)
    return Endpoint(
        port,
        "/match",
        client_token(port),
        [("accuracy", "4")],
        [("image", PROBE, probe), ("reference", REFERENCE, reference)],
    )


def generate_endpoint(port, faces_dir):
    names = (PROBE, REFERENCE, THIRD)
    return Endpoint(
        port,
        "/generate",
        client_token(port),
        [("accuracy", "4")],
        [("image", name, content) for name, content in zip(names, photos(faces_dir, *names), strict=True)],
    )


def measure(name, environment, faces_dir, args):
    setup = Setup(name, 2)
    with Server(setup, dict(environment, **SETUPS[name])) as server:
        result = {"name": name, "load_start": load()}
        concurrently(match_endpoint(server.port, faces_dir), 2, 4, REQUEST_TIMEOUT)  # each worker once, at least
        result["match"], _ = concurrently(match_endpoint(server.port, faces_dir), 1, args.requests, args.seconds)
        result["generate"], _ = concurrently(generate_endpoint(server.port, faces_dir), 1, args.requests, args.seconds)
        result["throughput"] = concurrently(
            match_endpoint(server.port, faces_dir), CLIENTS, args.requests, args.seconds
        )
        result["memory"] = [memory(pid)[0] for pid in server.worker_pids()]
        result["load_end"] = load()
    return result


def yardstick(faces_dir, repeat=7):
    """Two hand-written dlib runs on PROBE and REFERENCE, one after the other: median seconds."""
    from django.conf import settings

    from bench.pipeline import DlibBaseline

    baseline = DlibBaseline(settings.FACENITION_DETECT_MAX_SIDE)
    contents = photos(faces_dir, PROBE, REFERENCE)
    times = []
    for index in range(repeat + 2):
        started = time.perf_counter()
        for content in contents:
            baseline.embeddings(content)
        if index >= 2:
            times.append(time.perf_counter() - started)
    return percentile(times, 50)


def deepface_verify(faces_dir, environment, args):
    """deepface's API server under gunicorn (2 workers), /verify with Dlib on PROBE and REFERENCE: a
    list of seconds per request, or the reason it could not run."""
    check = subprocess.run([str(VENV_BIN / "python"), "-c", "import flask, flask_cors"], capture_output=True)
    if check.returncode != 0:
        return "not measured: deepface's API server needs Flask and flask_cors, which deepface does not install"
    port = free_port()
    process = subprocess.Popen(
        [
            str(VENV_BIN / "gunicorn"),
            "--workers",
            "2",
            "--timeout",
            "120",
            "--bind",
            f"127.0.0.1:{port}",
            "deepface.api.src.app:create_app()",
        ],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        images = ["data:image/jpeg;base64," + base64.b64encode(c).decode() for c in photos(faces_dir, PROBE, REFERENCE)]
        body = json.dumps(
            {"img1": images[0], "img2": images[1], "model_name": "Dlib", "detector_backend": "dlib"}
        ).encode()
        headers = {"Content-Type": "application/json"}
        deadline = time.monotonic() + 120
        while True:  # until it answers (it loads its models on the first request)
            outcome = post(port, "/verify", body, headers)
            if outcome.status == 200:
                break
            if time.monotonic() > deadline or process.poll() is not None:
                return f"not measured: deepface's API server answered {outcome.status}: {str(outcome.body)[:160]}"
            time.sleep(1)
        outcomes = [post(port, "/verify", body, headers) for _ in range(args.requests)]
        return [o.seconds for o in outcomes if o.status == 200]
    finally:
        process.terminate()
        process.wait(timeout=30)


def ms(seconds):
    return f"{seconds * 1000:.0f}"


def summary(outcomes):
    """(seconds of the answers that succeeded, the outcomes that did not)."""
    ok = [o for o in outcomes if 200 <= o.status < 300 and o.body.get("ok")]
    return [o.seconds for o in ok], [o for o in outcomes if o not in ok]


def p(values, q):
    return percentile(values, q) if values else float("nan")


def report(results, yardsticks, deepface):
    yard = p(yardsticks, 50)
    print(
        f"\nyardstick, dlib by hand twice on {PROBE} + {REFERENCE}: {ms(yard)} ms "
        f"(medians before, between and after the set-ups: {', '.join(ms(y) for y in yardsticks)})\n"
    )
    rows, rates = [], {}
    for result in results:
        match, match_errors = summary(result["match"])
        generate, generate_errors = summary(result["generate"])
        outcomes, elapsed = result["throughput"]
        served, throughput_errors = summary(outcomes)
        rates[result["name"]] = len(served) / elapsed
        match_p50 = p(match, 50)
        rows.append(
            [
                result["name"],
                ms(match_p50),
                ms(p(match, 95)),
                f"{match_p50 / yard:.2f}×",
                f"{p(match, 95) / yard:.2f}×",
                ms(p(generate, 50)),
                ms(p(generate, 95)),
                f"{p(generate, 50) / match_p50:.2f}×",
                f"{rates[result['name']]:.2f}",
                len(match_errors) + len(generate_errors) + len(throughput_errors),
                ", ".join(f"{peak:.0f}" for peak in result["memory"]),
            ]
        )
    print(
        table(
            [
                "server (2 workers)",
                "/match p50 ms",
                "p95 ms",
                "p50 ÷ yardstick",
                "p95 ÷ yardstick",
                "/generate of 3, p50 ms",
                "p95 ms",
                "/generate ÷ /match p50",
                f"/match per s, {CLIENTS} clients",
                "errors",
                "peak RSS per worker MiB",
            ],
            rows,
        )
    )
    for name, rate in rates.items():
        if name != "before":
            print(f"throughput at {CLIENTS} clients, {name} ÷ before: {rate / rates['before']:.2f}×")
    if isinstance(deepface, str):
        print(f"\ndeepface's API server /verify (Dlib, dlib): {deepface}")
    elif deepface:
        print(
            f"\ndeepface's API server /verify (Dlib, dlib), same two photos, one client: p50 {ms(p(deepface, 50))} ms, "
            f"p95 {ms(p(deepface, 95))} ms ({len(deepface)} requests)"
        )
    for result in results:
        print(f"\n{result['name']}: load {result['load_start']} → {result['load_end']}")
        for outcome in [
            o for o in result["match"] + result["generate"] + result["throughput"][0] if not (200 <= o.status < 300)
        ][:5]:
            print(f"  error: {outcome.status} {outcome.body}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_server_arguments(parser)
    parser.add_argument("--skip-deepface", action="store_true", help="leave deepface's API server out")
    args = parser.parse_args()

    faces_dir, environment = bench_setup(args.database_url, args.redis_url)
    yardsticks, results = [yardstick(faces_dir)], []
    for name in SETUPS:
        results.append(measure(name, environment, faces_dir, args))
        yardsticks.append(yardstick(faces_dir))
    deepface = (
        []
        if args.skip_deepface
        else deepface_verify(
            faces_dir,
            dict(os.environ, DEEPFACE_FACE_RECOGNITION_MODELS="Dlib", DEEPFACE_FACE_DETECTION_MODELS="dlib"),
            args,
        )
    )
    report(results, yardsticks, deepface)
    print(f"\nat the end: {load()}")


if __name__ == "__main__":
    main()
