"""How long `make run` takes, on an installed checkout, from the command to a server that answers.

    python -m bench.startup [--runs 3] [--cold]

Each run starts `make run BIND=127.0.0.1:<free port>` (migrations, collectstatic, the model check,
then gunicorn loading the models and the identity tokens' code before its workers fork) and polls
`/health` and `/ready` every 50 ms; it prints the seconds to the first answer of each and stops the
server. `--cold` first deletes the cached error-correcting code, so the first run builds it again
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


def one_start():
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    descriptor, name = tempfile.mkstemp(prefix="bench-startup-", suffix=".log")
    log = Path(name)
    started = time.perf_counter()
    with os.fdopen(descriptor, "wb") as out:
        process = subprocess.Popen(
            ["make", "--no-print-directory", "run", f"BIND=127.0.0.1:{port}"],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    health = ready = None
    try:
        while time.perf_counter() - started < TIMEOUT and process.poll() is None:
            now = time.perf_counter() - started
            if health is None and answers(f"{base}/health") == 200:
                health = now
            if health is not None and answers(f"{base}/ready") == 200:
                ready = time.perf_counter() - started
                break
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
    if ready is None:
        raise SystemExit(f"the server did not become ready:\n{log.read_text()[-3000:]}")
    return health, ready, log.read_text()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cold", action="store_true", help="delete the cached error-correcting code first")
    args = parser.parse_args()

    cache = ROOT / ".deepface" / "cache"
    if args.cold:
        for path in cache.glob("bch-*"):
            path.unlink()
    print(machine())
    print("| run | code cache | `make run` to /health 200 | to /ready 200 |")
    print("|---|---|---|---|")
    for run in range(1, args.runs + 1):
        cached = "present" if any(cache.glob("bch-*.npz")) else "absent (built)"
        health, ready, log = one_start()
        print(f"| {run} | {cached} | {health:.1f} s | {ready:.1f} s |")
        for line in log.splitlines():
            if "loaded and run once" in line or "error-correcting code" in line:
                print(f"|   | | | {line.split(' INFO ', 1)[-1].strip()} |")


if __name__ == "__main__":
    main()
