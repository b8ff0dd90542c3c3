"""Slow clients beside a normal one: do /health and /match still answer while connections trickle?

    python -m bench.slow_clients [--bodies 16] [--headers 16] [--threads 4] [--seconds 20]
                                 [--nginx] [--database-url URL]

It migrates the database and starts gunicorn as the Procfile does (2 workers of `--threads`
threads, models loaded), with `--nginx` behind the front the containers ship (deploy/nginx.conf:
whole requests buffered before they are passed on). Then `--bodies` connections send their headers
and a byte of their body a second, and `--headers` connections a header line a second; each
reconnects when it is cut off (`tests.live.slow_clients`, which tests/test_front.py runs too). After 2 s, for `--seconds`, a normal
client asks /health twice a second and, beside it, /match (two photos of one person) back to back.
It prints, per path, how many answered, how many within 1 s, and latency p50 and max. Nothing here
passes or fails.
"""

from bench.common import require_module_run

require_module_run(__package__)

import argparse  # noqa: E402
import http.client  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from contextlib import nullcontext  # noqa: E402

from bench.common import percentile, table  # noqa: E402
from bench.over_http import MatchClient, Server, Setup, bench_setup, client_token  # noqa: E402
from tests.live import nginx_binary, nginx_front, slow_clients  # noqa: E402


def timed(call):
    started = time.perf_counter()
    try:
        status = call()
    except OSError:
        status = 0
    return time.perf_counter() - started, status


def health(port):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", "/health")
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bodies", type=int, default=16)
    parser.add_argument("--headers", type=int, default=16)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--nginx", action="store_true")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/facenition_bench")
    args = parser.parse_args()

    if args.nginx and nginx_binary() is None:
        raise SystemExit("--nginx needs nginx: `make nginx` installs Debian's nginx-light")
    faces_dir, environment = bench_setup(args.database_url)
    # Lifted, so that the server does not turn the slow clients away early (a 429 needs no body).
    environment.update(
        GUNICORN_THREADS=str(args.threads),
        FACENITION_RATE_LIMIT_PER_TOKEN="1000000/m",
        FACENITION_RATE_LIMIT_PER_IP="1000000/m",
    )
    if args.nginx:
        environment["FACENITION_TRUSTED_PROXIES"] = "1"
    with Server(Setup("slow clients", workers=2), environment) as server:
        if args.nginx:
            front = nginx_front(f"127.0.0.1:{server.port}", tempfile.mkdtemp(prefix="bench-nginx-"))
        else:
            front = nullcontext(server.port)
        with front as port:
            match = MatchClient(port, client_token(port), faces_dir)
            with slow_clients(port, bodies=args.bodies, headers=args.headers):
                time.sleep(2)
                results = {"/health": [], "/match": []}
                until = time.monotonic() + args.seconds

                def matches():
                    while time.monotonic() < until:
                        results["/match"].append(timed(lambda: match.match().status))

                matching = threading.Thread(target=matches)
                matching.start()
                while time.monotonic() < until:
                    results["/health"].append(timed(lambda: health(port)))
                    time.sleep(0.5)
                matching.join()

    front_name = "nginx, buffering" if args.nginx else "none"
    print(
        f"gunicorn 2 workers x {args.threads} threads, front: {front_name}; "
        f"{args.bodies} trickling bodies, {args.headers} trickling headers, {args.seconds:g} s"
    )
    rows = []
    for path, outcomes in results.items():
        seconds = [s for s, _ in outcomes]
        answered = [s for s, status in outcomes if status == 200]
        rows.append(
            [
                path,
                f"{len(answered)}/{len(outcomes)}",
                str(sum(1 for s in answered if s < 1)),
                f"{percentile(seconds, 50):.2f}" if seconds else "-",
                f"{max(seconds):.2f}" if seconds else "-",
            ]
        )
    print(table(["path", "200s", "within 1 s", "p50 s", "max s"], rows))


if __name__ == "__main__":
    main()
