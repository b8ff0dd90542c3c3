"""The per-request deadline (middleware and the clock services read): how long a request may still take before it gives up with an envelope.

Each wait on a service has its own timeout (settings: database, Redis, broker); this bounds what
they add up to, and the wait for the worker's face work, so that a request never outlives
FACENITION_REQUEST_DEADLINE_SECONDS and its thread is freed."""

import threading
import time

from django.conf import settings

_local = threading.local()


def seconds_left():
    deadline = getattr(_local, "deadline", None)
    return None if deadline is None else max(0.0, deadline - time.monotonic())


class RequestDeadlineMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        _local.deadline = time.monotonic() + settings.FACENITION_REQUEST_DEADLINE_SECONDS
        try:
            return self.get_response(request)
        finally:
            _local.deadline = None
