"""A soak: clients sending real work and hostile input to the server for minutes on end.

    python -m bench.soak [--clients 4] [--minutes 10] [--workers 2] [--port 18111]
                         [--database-url URL] [--redis-url URL]

It migrates the database, starts gunicorn as the Procfile does (the project's config, models
loaded before the fork) on 127.0.0.1, and runs `--clients` threads back to back, each picking at
random (seeded) among:

- `/match` of two 1-2 MP photos of one person (expects 200);
- `/generate` from three photos of that person (201), and `/authenticate` of a fourth photo against
  the token it gave (200);
- bad inputs, each expecting a 400 envelope: a truncated JPEG, JSON nested 1,000 levels deep, a
  1 x 39,000,000 PNG, twenty blank 40 MP PNGs, a GIF, a file path instead of base64, no image.

The rate limits are raised for the run (it measures stability, not the limits). It prints the
number of requests, the answers by status (and any that were not what their kind expects),
latency p50/p95/max per kind, and every worker's RSS at start, after the first minute, and at the
end, and its peak RSS over the run (VmHWM). Nothing here passes or fails.
"""

from bench.common import require_module_run

require_module_run(__package__)

import argparse  # noqa: E402
import base64  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

from PIL import Image  # noqa: E402

from bench.common import load, percentile, table  # noqa: E402
from bench.over_http import PROBE, REFERENCE, Server, Setup, bench_setup, multipart, post  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/facenition_soak"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
# Three photos to enroll and a fourth to authenticate with, all of the person in PROBE and REFERENCE.
ENROLL = ("deepface-d_img13.jpg", "deepface-d_img14.jpg", "deepface-d_img15.jpg")
LIVE = "deepface-d_img58.jpg"
KINDS = {"match": 4, "generate+authenticate": 2, "bad input": 3}


def rss_mib(pid, field="VmRSS"):
    """A worker's RSS now, or with "VmHWM" its peak since it started, in MiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"{field}:\s+(\d+) kB", status).group(1)) / 1024


def png(width, height, mode="L"):
    buffer = io.BytesIO()
    Image.new(mode, (width, height), 0).save(buffer, format="PNG", compress_level=9)
    return buffer.getvalue()


def bad_inputs(faces_dir):
    """(name, path, body, content type) of each hostile request; every one should answer 400."""
    photo = (faces_dir / PROBE).read_bytes()
    truncated = photo[: len(photo) // 2]
    gif = io.BytesIO()
    Image.new("RGB", (32, 32)).save(gif, format="GIF")
    blank = png(8000, 5000)
    strip = png(1, 39_000_000)
    nested = ('{"image": ' + "[" * 1000 + "]" * 1000 + "}").encode()

    def files(images, references):
        return multipart([], [("image", "i", c) for c in images] + [("reference", "r", c) for c in references])

    def as_json(payload):
        return json.dumps(payload).encode(), "application/json"

    return [
        ("truncated JPEG", "/match", *files([truncated], [photo])),
        ("nested JSON", "/match", nested, "application/json"),
        ("1 x 39,000,000 PNG", "/match", *files([strip], [photo])),
        ("twenty 40 MP PNGs", "/match", *files([blank] * 10, [blank] * 10)),
        ("GIF", "/match", *files([gif.getvalue()], [photo])),
        ("file path", "/match", *as_json({"image": "/etc/passwd", "reference": base64.b64encode(photo).decode()})),
        ("no image", "/match", *files([], [photo])),
    ]


class Client:
    def __init__(self, port, token, faces_dir, bad, seed):
        self.port = port
        self.auth = {"X-Auth-Token": token}
        self.random = random.Random(seed)
        self.bad = bad
        self.match_body = multipart(
            [("accuracy", "4")],
            [
                ("image", PROBE, (faces_dir / PROBE).read_bytes()),
                ("reference", REFERENCE, (faces_dir / REFERENCE).read_bytes()),
            ],
        )
        self.generate_body = multipart([], [("image", name, (faces_dir / name).read_bytes()) for name in ENROLL])
        self.live = (faces_dir / LIVE).read_bytes()

    def send(self, kind, path, body, content_type, expected):
        outcome = post(self.port, path, body, {**self.auth, "Content-Type": content_type})
        return kind, expected, outcome

    def one(self):
        kind = self.random.choices(list(KINDS), weights=list(KINDS.values()))[0]
        if kind == "match":
            return [self.send("match", "/match", *self.match_body, 200)]
        if kind == "bad input":
            name, path, body, content_type = self.random.choice(self.bad)
            return [self.send(f"bad: {name}", path, body, content_type, 400)]
        generated = self.send("generate", "/generate", *self.generate_body, 201)
        token = generated[2].body.get("token")
        if not token:
            return [generated]
        body = multipart([("token", token)], [("image", LIVE, self.live)])
        return [generated, self.send("authenticate", "/authenticate", *body, 200)]


def issue_token(port):
    outcome = post(port, "/generateToken", b'{"name": "soak"}', {"Content-Type": "application/json"})
    if outcome.status != 201:
        raise SystemExit(f"/generateToken answered {outcome.status}: {outcome.body}")
    return outcome.body["token"]


def run(server, faces_dir, clients, seconds):
    bad = bad_inputs(faces_dir)
    results, lock = [], threading.Lock()
    deadline = time.perf_counter() + seconds
    workers = server.worker_pids()
    memory = {"start": {pid: rss_mib(pid) for pid in workers}}

    def loop(seed):
        client = Client(server.port, issue_token(server.port), faces_dir, bad, seed)
        while time.perf_counter() < deadline:
            outcomes = client.one()
            with lock:
                results.extend(outcomes)

    threads = [threading.Thread(target=loop, args=(seed,)) for seed in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    while time.perf_counter() - started < min(60, seconds) and any(t.is_alive() for t in threads):
        time.sleep(1)
    memory["after 1 min"] = {pid: rss_mib(pid) for pid in server.worker_pids()}
    for thread in threads:
        thread.join()
    memory["end"] = {pid: rss_mib(pid) for pid in server.worker_pids()}
    memory["peak"] = {pid: rss_mib(pid, "VmHWM") for pid in server.worker_pids()}
    return results, time.perf_counter() - started, workers, memory


def report(results, elapsed, workers, memory, server):
    print(f"\n{len(results)} requests in {elapsed:.0f} s ({len(results) / elapsed:.1f}/s)")
    statuses = Counter(outcome.status for _, _, outcome in results)
    print("answers by status: " + ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items())))
    unexpected = [(kind, expected, o) for kind, expected, o in results if o.status != expected]
    print(f"answers other than their kind expects: {len(unexpected)}")
    for kind, expected, outcome in unexpected[:20]:
        print(f"  {kind}: expected {expected}, got {outcome.status}: {str(outcome.body)[:160]}")
    by_kind = defaultdict(list)
    for kind, _, outcome in results:
        by_kind[kind].append(outcome.seconds)
    everything = [o.seconds for _, _, o in results]
    rows = [
        (
            kind,
            len(times),
            f"{percentile(times, 50) * 1000:.0f}",
            f"{percentile(times, 95) * 1000:.0f}",
            f"{max(times) * 1000:.0f}",
        )
        for kind, times in sorted(by_kind.items())
    ]
    rows.append(
        (
            "all",
            len(everything),
            f"{percentile(everything, 50) * 1000:.0f}",
            f"{percentile(everything, 95) * 1000:.0f}",
            f"{max(everything) * 1000:.0f}",
        )
    )
    print("\n" + table(("kind", "requests", "p50 ms", "p95 ms", "max ms"), rows))
    now = server.worker_pids()
    print(
        f"\nworkers at start {sorted(workers)}, at the end {sorted(now)}" + ("" if now == workers else " (replaced!)")
    )
    rows = []
    for pid in sorted(workers):
        start, minute, end, peak = (memory[phase].get(pid) for phase in ("start", "after 1 min", "end", "peak"))
        growth = f"{(end / minute - 1) * 100:+.1f}%" if end and minute else "gone"
        rows.append(
            (
                pid,
                f"{start:.0f}",
                f"{minute:.0f}" if minute else "-",
                f"{end:.0f}" if end else "-",
                growth,
                f"{peak:.0f}" if peak else "-",
            )
        )
    headers = ("worker", "RSS at start MiB", "after 1 min MiB", "at the end MiB", "end ÷ after 1 min", "peak RSS MiB")
    print(table(headers, rows))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=18111)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    args = parser.parse_args()

    faces_dir, environment = bench_setup(args.database_url)
    environment.update(
        REDIS_URL=args.redis_url,
        FACENITION_RATE_LIMIT_PER_TOKEN="1000000/m",
        FACENITION_RATE_LIMIT_PER_IP="1000000/m",
    )
    server = Server(Setup(f"{args.workers} workers", args.workers), environment)
    server.port = args.port
    server.environment["BIND"] = f"127.0.0.1:{args.port}"
    try:
        server.__enter__()
    except SystemExit:
        server.process.kill()  # it did not come up: leave nothing listening behind
        raise
    try:
        print(
            f"gunicorn on 127.0.0.1:{args.port}: {args.workers} workers, ready in {server.boot_seconds:.1f} s; "
            f"{args.clients} clients for {args.minutes:g} min"
        )
        results, elapsed, workers, memory = run(server, faces_dir, args.clients, args.minutes * 60)
        report(results, elapsed, workers, memory, server)
        errors = [line for line in server.log_text().splitlines() if " ERROR " in line]
        print(f"\nserver log ERROR lines: {len(errors)}")
        for line in errors[:10]:
            print("  " + line[:200])
    finally:
        server.__exit__(None, None, None)
    print(f"\nat the end: {load()}")


if __name__ == "__main__":
    main()
