"""`/match` over HTTP against the server as the Procfile starts it.

    python -m bench.over_http [--database-url URL] [--redis-url URL] [--requests 30] [--seconds 45] [--skip-no-preload]

It migrates the benchmark database, then for each server set-up starts
`gunicorn facenition.wsgi --config facenition/gunicorn.conf.py` on a free port of 127.0.0.1, asks
`/generateToken` for client tokens (a fresh one per phase, under the per-token rate limit) and drives
`/match` with two 1–2 MP photos of one person:

- the first `/match` each worker serves after start (one per worker, sent together);
- latency p50/p95 with one client;
- throughput with 1, 2 and 4 concurrent clients, each phase bounded in requests and seconds;
- peak RSS (VmHWM) and proportional set size (PSS, shared pages split between sharers) per process.

Set-ups: 2 workers (the Procfile's default), 1 worker (the baseline for the throughput ratio), and
2 workers loading the app after the fork instead of in the master (to compare memory). It also
times two in-process pipeline runs on the same photos, the yardstick for the HTTP latency, and the
rate of the pipeline in two processes against one, the most two workers could gain at that moment
on a shared machine. It only prints figures: nothing here passes or fails.

Besides the project's gunicorn config, the server gets a `post_worker_init` hook that logs when a
worker is ready (the measurements start when all are) and an access-log format naming the worker.
"""

from bench.common import require_module_run

require_module_run(__package__)

import argparse  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import secrets  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

from bench.common import ROOT, load, machine, percentile, table  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/facenition_bench"
# The rate limits count in the cache: Redis, as in production, rather than the database.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
# Two photos of one person, 1.79 and 1.69 megapixels.
PROBE = "deepface-d_img15.jpg"
REFERENCE = "deepface-d_img58.jpg"
# A third photo of that person, for /generate of three (bench.speed, bench.profile).
THIRD = "deepface-d_img13.jpg"
CONCURRENCIES = (1, 2, 4)
REQUEST_TIMEOUT = 60
BOOT_TIMEOUT = 120
VENV_BIN = ROOT / ".venv" / "bin"


@dataclass
class Setup:
    name: str
    workers: int
    preload: bool = True


@dataclass
class Outcome:
    seconds: float
    status: int
    body: dict = field(repr=False)


def temporary_path(suffix):
    descriptor, name = tempfile.mkstemp(prefix="bench-gunicorn-", suffix=suffix)
    os.close(descriptor)
    return Path(name)


class Server:
    """One gunicorn, started as the Procfile's web command does, on a free port of 127.0.0.1."""

    def __init__(self, setup, environment):
        self.setup = setup
        self.port = free_port()
        self.log_path = temporary_path(".log")
        self.environment = dict(environment, BIND=f"127.0.0.1:{self.port}", WEB_CONCURRENCY=str(setup.workers))
        self.config = self._config()

    def _config(self):
        """The project's gunicorn config plus a log line when a worker is ready (and, if asked, no preload)."""
        text = (
            f"exec(open({str(ROOT / 'facenition' / 'gunicorn.conf.py')!r}).read())\n"
            "_project_post_worker_init = globals().get('post_worker_init')\n\n"
            "def post_worker_init(worker):\n"
            "    if _project_post_worker_init:\n"
            "        _project_post_worker_init(worker)\n"
            "    worker.log.info('bench: worker %s ready', worker.pid)\n"
        )
        if not self.setup.preload:
            text += "\npreload_app = False\n"
        path = temporary_path(".conf.py")
        path.write_text(text)
        return path

    def __enter__(self):
        self.started = time.perf_counter()
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    str(VENV_BIN / "gunicorn"),
                    "facenition.wsgi",
                    "--config",
                    str(self.config),
                    "--access-logformat",
                    "pid=%(p)s %(r)s %(s)s %(M)sms",
                ],
                cwd=ROOT,
                env=self.environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.boot_seconds = self._wait_until_ready()
        return self

    def __exit__(self, *exc):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.config.unlink()
        self.log_path.unlink()

    def log_text(self):
        return self.log_path.read_text(errors="replace")

    def worker_pids(self):
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    def _wait_until_ready(self):
        """Seconds until every worker has said it is ready."""
        deadline = time.perf_counter() + BOOT_TIMEOUT
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn exited with {self.process.returncode}:\n{self.log_text()}")
            if len(set(re.findall(r"bench: worker (\d+) ready", self.log_text()))) >= self.setup.workers:
                return time.perf_counter() - self.started
            time.sleep(0.05)
        raise SystemExit(f"gunicorn was not ready after {BOOT_TIMEOUT} s:\n{self.log_text()}")

    def served_by(self):
        """The worker pid of each /match the access log lists, in order."""
        return [int(pid) for pid in re.findall(r"pid=<(\d+)> POST /match", self.log_text())]


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cpu_seconds(pid):
    """CPU time a process has run so far, all threads, from the scheduler's nanosecond counters."""
    tasks = Path(f"/proc/{pid}/task")
    return sum(int((tasks / task / "schedstat").read_text().split()[0]) for task in os.listdir(tasks)) / 1e9


def memory(pid):
    """(peak RSS, PSS) of a process in MiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    peak = int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024
    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    pss = int(re.search(r"^Pss:\s+(\d+) kB", rollup, re.MULTILINE).group(1)) / 1024
    return peak, pss


def multipart(fields, files):
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, filename, content in files:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n".encode()
            + content
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def post(port, path, body, headers):
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        status = response.status
    except OSError as error:
        return Outcome(time.perf_counter() - started, 0, {"error": str(error)})
    finally:
        connection.close()
    try:
        parsed = json.loads(payload)
    except ValueError:
        parsed = {"error": payload[:200].decode(errors="replace")}
    return Outcome(time.perf_counter() - started, status, parsed)


class MatchClient:
    def __init__(self, port, token, faces_dir):
        self.port = port
        self.body, content_type = multipart(
            [("accuracy", "4")],
            [
                ("image", PROBE, (faces_dir / PROBE).read_bytes()),
                ("reference", REFERENCE, (faces_dir / REFERENCE).read_bytes()),
            ],
        )
        self.headers = {"X-Auth-Token": token, "Content-Type": content_type}

    def match(self):
        return post(self.port, "/match", self.body, self.headers)


def client_token(port):
    body, content_type = multipart([("name", "benchmark")], [])
    outcome = post(port, "/generateToken", body, {"Content-Type": content_type})
    if outcome.status != 201:
        raise SystemExit(f"/generateToken answered {outcome.status}: {outcome.body}")
    return outcome.body["token"]


def concurrently(client, clients, max_requests, max_seconds):
    """`clients` threads send /match back to back until `max_requests` are sent or time is up."""
    outcomes, lock = [], threading.Lock()
    remaining = [max_requests]
    deadline = time.perf_counter() + max_seconds

    def loop():
        while time.perf_counter() < deadline:
            with lock:
                if remaining[0] == 0:
                    return
                remaining[0] -= 1
            outcome = client.match()
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=loop) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes, time.perf_counter() - started


def summary(outcomes):
    ok = [o.seconds for o in outcomes if o.status == 200 and o.body.get("ok")]
    errors = [o for o in outcomes if not (o.status == 200 and o.body.get("ok"))]
    return ok, errors


def measure(setup, environment, faces_dir, args):
    with Server(setup, environment) as server:
        # A token of its own for each phase: the server allows a token FACENITION_RATE_LIMIT_PER_TOKEN
        # requests (120 a minute by default), fewer than two workers answer.
        def client():
            return MatchClient(server.port, client_token(server.port), faces_dir)

        result = {"setup": setup, "boot": server.boot_seconds, "load_start": load()}
        workers = server.worker_pids()
        first_client = client()
        before = {pid: cpu_seconds(pid) for pid in workers}
        result["first"], _ = concurrently(first_client, setup.workers, setup.workers, REQUEST_TIMEOUT)
        result["first_cpu"] = [cpu_seconds(pid) - before[pid] for pid in workers]
        concurrently(first_client, 1, 3, REQUEST_TIMEOUT)  # settle before the timed phases

        sequential_client = client()
        before = sum(cpu_seconds(pid) for pid in workers)
        result["sequential"], _ = concurrently(sequential_client, 1, args.requests, args.seconds)
        result["steady_cpu"] = (sum(cpu_seconds(pid) for pid in workers) - before) / max(1, len(result["sequential"]))
        result["throughput"] = {}
        for clients in CONCURRENCIES:
            result["throughput"][clients] = concurrently(client(), clients, args.requests, args.seconds)
        result["match"] = result["sequential"][-1].body if result["sequential"] else {}
        result["memory"] = {"master": memory(server.process.pid)}
        for pid in server.worker_pids():
            result["memory"][pid] = memory(pid)
        result["first_workers"] = server.served_by()[: setup.workers]
        result["log_lines"] = [
            line
            for line in server.log_text().splitlines()
            if any(event in line for event in (" INFO facenition ", " ERROR ", "Booting worker", "bench: worker"))
        ]
        result["load_end"] = load()
    return result


def pipeline_yardstick(faces_dir, repeat=7):
    """Two in-process pipeline runs on the photos /match gets (decode_image + analyse): median wall and CPU seconds."""
    import numpy as np

    from matching.pipeline import decode_image
    from matching.reading import face_pipeline

    pipeline = face_pipeline().load()
    contents = [(faces_dir / PROBE).read_bytes(), (faces_dir / REFERENCE).read_bytes()]
    wall, cpu = [], []
    for index in range(repeat + 2):
        started, started_cpu = time.perf_counter(), time.process_time()
        for content in contents:
            pipeline.analyse(decode_image("image", content).pixels)
        if index >= 2:
            wall.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
    return float(np.median(wall)), float(np.median(cpu))


def parallel_ceiling(faces_dir, seconds=8):
    """What the machine's cores give at this moment, without HTTP: the pipeline's rate on the /match
    photos in two forked processes ÷ in one. Other jobs on a shared machine lower it."""
    import multiprocessing

    from matching.pipeline import decode_image
    from matching.reading import face_pipeline

    pipeline = face_pipeline().warm_up()
    contents = [(faces_dir / PROBE).read_bytes(), (faces_dir / REFERENCE).read_bytes()]

    def loop(rates):
        done, deadline = 0, time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            for content in contents:
                pipeline.analyse(decode_image("image", content).pixels)
            done += 1
        rates.put(done / seconds)

    context = multiprocessing.get_context("fork")
    throughput = {}
    for processes in (1, 2):
        rates = context.Queue()
        children = [context.Process(target=loop, args=(rates,)) for _ in range(processes)]
        for child in children:
            child.start()
        for child in children:
            child.join()
        throughput[processes] = sum(rates.get() for _ in children)
    return throughput[2] / throughput[1]


def add_server_arguments(parser):
    """The options of the benchmarks that start servers: their database and Redis, and each phase's bounds."""
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--requests", type=int, default=30, help="requests per timed phase (default 30)")
    parser.add_argument("--seconds", type=float, default=45, help="longest a timed phase may run (default 45)")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="the servers' cache and broker ('' for none)")


def bench_setup(database_url, redis_url=None):
    """Django set up on `database_url`, the machine printed and the database migrated; returns the
    face photos' folder and the environment the servers start with (this one, less what each sets,
    with `redis_url` as REDIS_URL when given)."""
    os.environ["DATABASE_URL"] = database_url
    # Throwaway keys when neither the environment nor .env (`make setup`) has them: a server with a
    # DATABASE_URL refuses to start without a token key of its own.
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(48))
    os.environ.setdefault("FACENITION_TOKEN_KEY", secrets.token_urlsafe(48))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "facenition.settings")
    # A client token per phase, run after run; set before .env is read (by django.setup), whose
    # FACENITION_V1_TOKEN_RATE_PER_IP (10/h) would otherwise win and stop the run with a 429.
    os.environ.setdefault("FACENITION_V1_TOKEN_RATE_PER_IP", "1000000/m")
    import django
    from django.conf import settings

    django.setup()
    print(f"machine: {machine()}")
    prepare_database(database_url)
    environment = {key: value for key, value in os.environ.items() if key not in ("BIND", "PORT", "WEB_CONCURRENCY")}
    if redis_url is not None:
        environment["REDIS_URL"] = redis_url
    return Path(settings.FACENITION_FACES_DIR), environment


def prepare_database(database_url):
    """Creates the benchmark database if need be and runs the Procfile's release step on it."""
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    server_url = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(server_url.replace("postgres://", "postgresql://", 1), autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')
    environment = dict(os.environ, DATABASE_URL=database_url)
    for command in (["migrate", "--noinput"], ["createcachetable"]):
        subprocess.run(
            [str(VENV_BIN / "python"), "manage.py", *command],
            cwd=ROOT,
            env=environment,
            check=True,
            stdout=subprocess.DEVNULL,
        )


def ms(seconds):
    return f"{seconds * 1000:.0f}"


def report(results, yardstick, yardstick_cpu):
    print(
        f"\ntwo in-process pipeline runs on {PROBE} + {REFERENCE}: {ms(yardstick)} ms, "
        f"{ms(yardstick_cpu)} ms of CPU (medians)\n"
    )
    rows = []
    for result in results:
        ok, errors = summary(result["sequential"])
        first_ok, first_errors = summary(result["first"])
        p50, p95 = percentile(ok, 50), percentile(ok, 95)
        # The first requests go in together, one per worker: compare them with as many clients.
        alike = (
            summary(result["throughput"][result["setup"].workers][0])[0]
            if result["setup"].workers in CONCURRENCIES
            else ok
        )
        steady_cpu = result["steady_cpu"]
        rows.append(
            [
                result["setup"].name,
                f"{result['boot']:.1f}",
                ", ".join(ms(s) for s in first_ok) or "-",
                f"{max(first_ok) / percentile(alike, 50):.2f}×" if first_ok else "-",
                ", ".join(ms(s) for s in result["first_cpu"]),
                ms(steady_cpu),
                f"{max(result['first_cpu']) / steady_cpu:.2f}×",
                len(ok),
                ms(p50),
                ms(p95),
                f"{p50 / yardstick:.2f}×",
                len(errors) + len(first_errors),
            ]
        )
    print(
        table(
            [
                "server",
                "ready after s",
                "first /match per worker ms",
                "first ÷ p50 at as many clients",
                "worker CPU, first ms",
                "worker CPU, steady ms",
                "first ÷ steady CPU",
                "requests",
                "p50 ms",
                "p95 ms",
                "p50 ÷ two pipeline runs",
                "errors",
            ],
            rows,
        )
    )

    print()
    rows = []
    for result in results:
        for clients, (outcomes, elapsed) in result["throughput"].items():
            ok, errors = summary(outcomes)
            rows.append(
                [
                    result["setup"].name,
                    clients,
                    len(ok),
                    f"{elapsed:.1f}",
                    f"{len(ok) / elapsed:.2f}",
                    ms(percentile(ok, 50)) if ok else "-",
                    ms(max(ok)) if ok else "-",
                    len(errors),
                ]
            )
    print(table(["server", "clients", "requests", "seconds", "/match per s", "p50 ms", "slowest ms", "errors"], rows))

    by_name = {result["setup"].name: result for result in results}
    single = by_name.get("1 worker")
    double = by_name.get("2 workers, preload")
    if single and double:

        def best(result):
            return max(len(summary(o)[0]) / elapsed for o, elapsed in result["throughput"].values())

        print(
            f"\nthroughput, 2 workers ÷ 1 worker (best of each over 1, 2, 4 clients): {best(double) / best(single):.2f}×"
        )

    print()
    rows = []
    for result in results:
        for process, (peak, pss) in result["memory"].items():
            rows.append(
                [
                    result["setup"].name,
                    process if process == "master" else f"worker {process}",
                    f"{peak:.0f}",
                    f"{pss:.0f}",
                ]
            )
        total = sum(pss for _, pss in result["memory"].values())
        rows.append([result["setup"].name, "all processes", "", f"{total:.0f}"])
    print(table(["server", "process", "peak RSS MiB", "PSS MiB (at the end)"], rows))

    for result in results:
        errors = [o for o in result["sequential"] + result["first"] if o.status != 200]
        for outcomes, _ in result["throughput"].values():
            errors += [o for o in outcomes if o.status != 200 or not o.body.get("ok")]
        print(f"\n{result['setup'].name}: load {result['load_start']} → {result['load_end']}")
        print(
            f"  first /match served by workers {result['first_workers']}; answer: "
            f"match={result['match'].get('match')} max_accuracy={result['match'].get('max_accuracy')}"
        )
        for line in result["log_lines"]:
            print(f"  log: {line}")
        for outcome in errors[:5]:
            print(f"  error: {outcome.status} {outcome.body}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_server_arguments(parser)
    parser.add_argument("--skip-no-preload", action="store_true", help="leave out the set-up without --preload")
    args = parser.parse_args()

    faces_dir, environment = bench_setup(args.database_url, args.redis_url)

    setups = [Setup("2 workers, preload", 2), Setup("1 worker", 1)]
    if not args.skip_no_preload:
        setups.append(Setup("2 workers, load after fork", 2, preload=False))
    results = [measure(setup, environment, faces_dir, args) for setup in setups]
    report(results, *pipeline_yardstick(faces_dir))
    print(
        f"\nparallel ceiling now, without HTTP: the pipeline in 2 processes ÷ in 1: {parallel_ceiling(faces_dir):.2f}×"
    )
    print(f"\nat the end: {load()}")


if __name__ == "__main__":
    main()
