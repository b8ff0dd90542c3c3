import threading
import uuid

from django.conf import settings

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


class RequestSizeLimitMiddleware:
    """Refuses oversized bodies from their Content-Length, before anything reads them.

    Django caps form fields but not a JSON body, which is where base64 images arrive."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from facenition.errors import human_size

        from .errors import envelope  # errors imports this module

        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return envelope("The Content-Length header is not a number.", 400)
        if length > settings.FACENITION_MAX_REQUEST_BYTES:
            limit = settings.FACENITION_MAX_REQUEST_BYTES
            return envelope(f"The request is {human_size(length)}; at most {human_size(limit)} is accepted.", 400)
        return self.get_response(request)
