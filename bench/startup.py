"""How long `make run` takes, on an installed checkout, from the command to a server that answers.

    python -m bench.startup [--runs 3] [--cold] [--model SFace]

Each run starts `make run BIND=127.0.0.1:<free port>` (migrations, collectstatic, the model check,
then gunicorn loading the models and the identity tokens' code before its workers fork) and polls
`/health` and `/ready` every 50 ms; it prints the seconds to the first answer of each, then the
resident memory of each gunicorn worker, idle, once ready and every worker forked (RSS, and PSS: the
pages it shares with the master and the other workers counted in shares), and stops the server. `--model` sets `FACENITION_MODEL` for
the server. `--cold` first deletes the cached error-correcting code, so the first run builds it again
(as on a fresh clone). It only prints figures: nothing here passes or fails.
"""

from bench.common import require_module_run

require_module_run(__package__)

import argparse  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.error  # noqa: E402
import urllib.request  # noqa: E402
from pathlib import Path  # noqa: E402

from bench.common import ROOT, machine  # noqa: E402

TIMEOUT = 600


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answers(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def status_kib(pid, field, name="status"):
    """A `field:` line of /proc/<pid>/status (or smaps_rollup), in KiB; None once the process is gone."""
    try:
        lines = Path(f"/proc/{pid}/{name}").read_text().splitlines()
    except OSError:
        return None
    return next((int(line.split()[1]) for line in lines if line.startswith(f"{field}:")), None)


def gunicorn_workers(session):
    """The pids of the gunicorn workers in `session`: gunicorn processes whose parent is gunicorn too."""
    processes = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # state, ppid, pgrp, session, ...
        if int(fields[3]) == session:
            # gunicorn's own processes run its script (argv[0] or argv[1]); not the shell that started it
            script = [Path(arg.decode(errors="replace")).name for arg in command.split(b"\0")[:2]]
            processes[int(entry.name)] = (int(fields[1]), "gunicorn" in script)
    return sorted(
        pid for pid, (parent, is_gunicorn) in processes.items() if is_gunicorn and processes.get(parent, (0, False))[1]
    )


def worker_memory(session):
    """(RSS, PSS) in MiB of each gunicorn worker of `session`."""
    sizes = []
    for pid in gunicorn_workers(session):
        rss, pss = status_kib(pid, "VmRSS"), status_kib(pid, "Pss", "smaps_rollup")
        if rss is not None and pss is not None:
            sizes.append((rss / 1024, pss / 1024))
    return sizes


def settled_worker_memory(session, settle=2.0, longest=20.0):
    """worker_memory once the number of workers has not changed for `settle` seconds: /ready can
    answer from the first worker while the master still forks the next."""
    begun = time.perf_counter()
    count, since = -1, begun
    while time.perf_counter() - begun < longest:
        now = len(gunicorn_workers(session))
        if now != count:
            count, since = now, time.perf_counter()
        elif count and time.perf_counter() - since >= settle:
            break
        time.sleep(0.25)
    return worker_memory(session)


def one_start(model=None):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    descriptor, name = tempfile.mkstemp(prefix="bench-startup-", suffix=".log")
    log = Path(name)
    started = time.perf_counter()
    with os.fdopen(descriptor, "wb") as out:
        process = subprocess.Popen(
            ["make", "--no-print-directory", "run", f"BIND=127.0.0.1:{port}"],
            cwd=ROOT,
            env={**os.environ, **({"FACENITION_MODEL": model} if model else {})},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    health = ready = None
    memory = []
    try:
        while time.perf_counter() - started < TIMEOUT and process.poll() is None:
            now = time.perf_counter() - started
            if health is None and answers(f"{base}/health") == 200:
                health = now
            if health is not None and answers(f"{base}/ready") == 200:
                ready = time.perf_counter() - started
                memory = settled_worker_memory(process.pid)
                break
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
    if ready is None:
        raise SystemExit(f"the server did not become ready:\n{log.read_text()[-3000:]}")
    return health, ready, memory, log.read_text()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cold", action="store_true", help="delete the cached error-correcting code first")
    parser.add_argument("--model", help="FACENITION_MODEL for the server (default: the setting)")
    args = parser.parse_args()

    cache = ROOT / ".deepface" / "cache"
    if args.cold:
        for path in cache.glob("bch-*"):
            path.unlink()
    print(machine() + (f"; FACENITION_MODEL={args.model}" if args.model else ""))
    print("| run | code cache | `make run` to /health 200 | to /ready 200 | each worker once ready: RSS / PSS |")
    print("|---|---|---|---|---|")
    for run in range(1, args.runs + 1):
        cached = "present" if any(cache.glob("bch-*.npz")) else "absent (built)"
        health, ready, memory, log = one_start(args.model)
        sizes = ", ".join(f"{rss:.0f} / {pss:.0f} MiB" for rss, pss in memory) or "no worker found"
        print(f"| {run} | {cached} | {health:.1f} s | {ready:.1f} s | {sizes} |")
        for line in log.splitlines():
            if "loaded and run once" in line or "error-correcting code" in line:
                print(f"|   | | | {line.split(' INFO ', 1)[-1].strip()} | |")


if __name__ == "__main__":
    main()
