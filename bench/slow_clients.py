"""Slow clients beside a normal one: do /health and /match still answer while connections trickle?

    python -m bench.slow_clients [--bodies 16] [--headers 16] [--threads 4] [--seconds 20]
                                 [--nginx] [--database-url URL]

It migrates the database and starts gunicorn as the Procfile does (2 workers of `--threads`
threads, models loaded), with `--nginx` behind nginx as docs/operations.md configures it
(`NGINX_CONFIG` below: whole requests buffered before they are passed on). Then `--bodies`
connections send their headers and a byte of their body a second, and `--headers` connections a
header line a second; each reconnects when the server cuts it. After 2 s, for `--seconds`, a normal
client asks /health twice a second and, beside it, /match (two photos of one person) back to back.
It prints, per path, how many answered, how many within 1 s, and latency p50 and max. Nothing here
passes or fails.
"""

from bench.common import require_module_run

require_module_run(__package__)

import argparse  # noqa: E402
import http.client  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from bench.common import percentile, table  # noqa: E402
from bench.over_http import MatchClient, Server, Setup, bench_setup, client_token, free_port  # noqa: E402

NGINX_CONFIG = """
worker_processes 1;
daemon off;
pid {run}/nginx.pid;
error_log {run}/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {run}/body;
    proxy_temp_path {run}/proxy;
    fastcgi_temp_path {run}/fastcgi;
    uwsgi_temp_path {run}/uwsgi;
    scgi_temp_path {run}/scgi;
    # The whole request is read here before gunicorn sees it (the default, said out loud), in memory
    # up to the largest body the server accepts, so that face photos stay off the disk.
    proxy_request_buffering on;
    client_max_body_size 300m;
    client_body_buffer_size 300m;
    client_header_timeout 20s;
    client_body_timeout 20s;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_read_timeout 60s;
        }}
    }}
}}
"""


def trickle_body(port, stop):
    head = (
        b"POST /generateToken HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
    )
    trickle(port, stop, head, b" ")


def trickle_headers(port, stop):
    trickle(port, stop, b"GET /health HTTP/1.1\r\nHost: x\r\n", b"X-Slow: 1\r\n")


def trickle(port, stop, head, drip):
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(head)
                while not stop.wait(1.0):
                    sock.sendall(drip)
        except OSError:
            stop.wait(0.1)  # cut by the server: come back, as an attacker would


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


def nginx_in_front(upstream):
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        raise SystemExit("--nginx needs nginx (apt-get install nginx-light)")
    run = Path(tempfile.mkdtemp(prefix="bench-nginx-"))
    port = free_port()
    (run / "nginx.conf").write_text(NGINX_CONFIG.format(run=run, port=port, upstream=upstream))
    process = subprocess.Popen([binary, "-c", str(run / "nginx.conf"), "-p", str(run)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, port
        except OSError:
            time.sleep(0.1)
    process.terminate()
    raise SystemExit(f"nginx did not start: {(run / 'error.log').read_text()}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bodies", type=int, default=16)
    parser.add_argument("--headers", type=int, default=16)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--nginx", action="store_true")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/facenition_bench")
    args = parser.parse_args()

    faces_dir, environment = bench_setup(args.database_url)
    environment.update(GUNICORN_THREADS=str(args.threads), FACENITION_RATE_LIMIT_PER_TOKEN="1000000/m")
    if args.nginx:
        environment["FACENITION_TRUSTED_PROXIES"] = "1"
    with Server(Setup("slow clients", workers=2), environment) as server:
        front, port = nginx_in_front(server.port) if args.nginx else (None, server.port)
        try:
            match = MatchClient(port, client_token(port), faces_dir)
            stop = threading.Event()
            slow = [threading.Thread(target=trickle_body, args=(port, stop)) for _ in range(args.bodies)]
            slow += [threading.Thread(target=trickle_headers, args=(port, stop)) for _ in range(args.headers)]
            for thread in slow:
                thread.start()
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
            stop.set()
            for thread in slow:
                thread.join()
        finally:
            if front is not None:
                front.terminate()
                front.wait()

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
