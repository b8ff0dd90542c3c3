import threading
import uuid

_local = threading.local()


def current_request_id():
    return getattr(_local, "request_id", "-")


class RequestIdMiddleware:
    """Tags each request with an id that error answers quote and logs carry."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = uuid.uuid4().hex[:16]
        _local.request_id = request.request_id
        try:
            response = self.get_response(request)
        finally:
            _local.request_id = "-"
        response["X-Request-Id"] = request.request_id
        return response
