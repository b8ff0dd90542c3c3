"""gunicorn settings for the Procfile's web process and `make run`.

Face detection and the embedding are single-threaded dlib code: each photo being read holds one
core slot (matching.cores), shared by the workers, so a request reads its photos side by side only
on cores no other request is using, and a worker holds at most FACENITION_PHOTO_THREADS photos. Its threads (GUNICORN_THREADS,
default 4) are for waiting: on a slow client's body (at most FACENITION_BODY_READ_SECONDS), on the
database and Redis, or for the worker's turn at face work (facenition.gunicorn_worker). Libraries that start thread
pools of their own (OpenBLAS under numpy, OpenCV, numba, TensorFlow when a TensorFlow model is
configured) get the worker's share of the cores, so that workers do not fight over them. These
variables must be set before those libraries are imported, i.e. here, before the app loads.
"""

import contextlib
import ctypes
import errno
import gc
import os
import socket

bind = os.environ.get("BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")


def refuse_an_address_in_use(address):
    """gunicorn binds only after the app, models included, is loaded (about 12 s): an address already
    in use would be found only then. Checked here, once per server (a configuration reloaded by a
    running server finds its own socket there)."""
    host, _, port = address.rpartition(":")
    if os.environ.get("FACENITION_BIND_CHECKED") or address.startswith(("unix:", "fd://")) or not port.isdigit():
        return
    os.environ["FACENITION_BIND_CHECKED"] = "1"
    if int(port) == 0:
        return
    host = host.strip("[]") or "0.0.0.0"
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, int(port)))
        except OSError as error:
            taken = error.errno == errno.EADDRINUSE
            raise SystemExit(
                f"Cannot serve on {address}: "
                + ("another process is already listening there" if taken else str(error.strerror or error))
                + ". Stop it, or choose another address with BIND (make run BIND=127.0.0.1:8080)."
            ) from None


refuse_an_address_in_use(bind)
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "facenition.gunicorn_worker.JsonThreadWorker"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# A worker whose main loop stops answering for this long is replaced; a request itself gives up
# sooner, at FACENITION_REQUEST_DEADLINE_SECONDS (checked at start-up to be below this).
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
# What gunicorn refuses itself, with the JSON envelope: a request line over 4 KB (414), more than
# 100 header fields or one over 8 KB (431).
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
accesslog = "-"
# Access lines go through Django's logging: the request id on each, JSON with LOG_FORMAT=json.
logger_class = "facenition.requestid.AccessLogger"

# Loading the app, models included, in the master lets the workers share its pages (measured in
# docs/decisions.md: less memory than loading after the fork) and no request pays for the loading.
preload_app = True

THREADS_PER_WORKER = str(max(1, len(os.sched_getaffinity(0)) // workers))
for variable in (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENCV_FOR_THREADS_NUM",
    "NUMBA_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
):
    os.environ.setdefault(variable, THREADS_PER_WORKER)
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")


# glibc gives threads malloc arenas of their own (up to 8 per core), and what one frees another
# does not reuse: a worker whose threads each read a photo would keep each one's peak. Two arenas,
# set in the master before the workers fork (they inherit it); other C libraries ignore it.
M_ARENA_MAX = -8
with contextlib.suppress(OSError, AttributeError):
    ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, int(os.environ.get("MALLOC_ARENA_MAX", "2")))


def pre_fork(server, worker):
    # Objects the master created stay out of the workers' garbage collections: a full collection
    # would otherwise walk, and so copy, every page the workers share with the master.
    gc.freeze()
