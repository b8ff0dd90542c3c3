from django.conf import settings

from facenition.errors import human_size

from .errors import envelope


class RequestSizeLimitMiddleware:
    """Refuses oversized bodies from their Content-Length, before anything reads them.

    Django caps form fields but not a JSON body, which is where base64 images arrive."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return envelope("The Content-Length header is not a number.", 400)
        if length > settings.FACENITION_MAX_REQUEST_BYTES:
            limit = settings.FACENITION_MAX_REQUEST_BYTES
            return envelope(f"The request is {human_size(length)}; at most {human_size(limit)} is accepted.", 400)
        return self.get_response(request)
