"""One exception handler: every failure, an application error (`facenition.errors`) or anything
else, answers `{"ok": false, "error": "..."}` with a status an API consumer can act on."""

import logging

from django.conf import settings
from django.core.exceptions import (
    DisallowedHost,
    PermissionDenied,
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import Http404, JsonResponse, UnreadablePostError
from rest_framework import exceptions as drf

from facenition.errors import ApplicationError, human_size
from facenition.requestid import current_request_id

from .body import BodyTooSlow

NON_FIELD_ERRORS = "non_field_errors"

log = logging.getLogger("facenition.api")


def envelope(message, status, headers=None):
    response = JsonResponse({"ok": False, "error": message}, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def describe_validation_error(detail, path=""):
    """Flattens DRF's nested validation detail into `field: message`."""
    if isinstance(detail, dict):
        parts = [
            describe_validation_error(
                value, path if key == NON_FIELD_ERRORS else (f"{path}.{key}" if path else str(key))
            )
            for key, value in detail.items()
        ]
        return "; ".join(parts)
    if isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            text = " ".join(str(item) for item in detail)
            return f"{path}: {text}" if path else text
        return "; ".join(describe_validation_error(item, f"{path}[{i}]") for i, item in enumerate(detail) if item)
    return f"{path}: {detail}" if path else str(detail)


def _drf_message(exc):
    if isinstance(exc, drf.ValidationError):
        return describe_validation_error(exc.detail)
    if isinstance(exc, drf.ParseError):
        return f"The request body could not be read: {exc.detail}"
    if isinstance(exc, drf.NotAuthenticated):
        return "A client token is required: send it in the X-Auth-Token header or an auth_token field."
    if isinstance(exc, drf.MethodNotAllowed):
        return f"{exc.detail} Every endpoint accepts POST only."
    if isinstance(exc, drf.UnsupportedMediaType):
        return f"{exc.detail} Send JSON or multipart/form-data."
    if isinstance(exc, drf.Throttled):
        return "Too many requests; slow down and retry later."
    return str(exc.detail)


def _drf_status(exc):
    if isinstance(exc, (drf.NotAuthenticated, drf.AuthenticationFailed)):
        return 401
    if isinstance(exc, drf.UnsupportedMediaType):
        return 400
    return exc.status_code


def exception_handler(exc, context=None):
    if isinstance(exc, ApplicationError):
        return envelope(exc.message, exc.status, exc.headers)
    if isinstance(exc, drf.APIException):
        headers = {}
        wait = getattr(exc, "wait", None)
        if wait:
            headers["Retry-After"] = str(int(wait))
        return envelope(_drf_message(exc), _drf_status(exc), headers)
    if isinstance(exc, Http404):
        return envelope("Not found.", 404)
    if isinstance(exc, PermissionDenied):
        return envelope("You may not do this.", 403)
    if isinstance(exc, RequestDataTooBig):
        return envelope(
            f"The request is too large: send at most {settings.FACENITION_MAX_IMAGES} images "
            f"of at most {human_size(settings.FACENITION_MAX_IMAGE_BYTES)} each.",
            400,
        )
    if isinstance(exc, TooManyFilesSent):
        return envelope(f"Too many files: send at most {settings.FACENITION_MAX_IMAGES} images per field.", 400)
    if isinstance(exc, TooManyFieldsSent):
        return envelope("The request has too many fields.", 400)
    if isinstance(exc, (UnreadablePostError, BodyTooSlow)):
        if _caused_by(exc, BodyTooSlow):
            return envelope(
                f"The request body took longer than {settings.FACENITION_BODY_READ_SECONDS} s to arrive; "
                "send it at once.",
                408,
            )
        return envelope("The request body ended before its Content-Length; send it whole.", 400)
    return unexpected_failure(exc)


def _caused_by(exc, kind):
    while exc is not None:
        if isinstance(exc, kind):
            return True
        exc = exc.__cause__
    return False


def unexpected_failure(exc=None):
    request_id = current_request_id()
    log.error("unexpected failure, request id %s", request_id, exc_info=exc)
    return envelope(
        f"The server could not complete this request (request id {request_id}). "
        "Try again; if it keeps failing, report the request id to the operator.",
        502,
    )


def not_found_view(request, exception=None):
    return envelope(f"No endpoint at {request.path}. See / for the API reference.", 404)


def server_error_view(request):
    return unexpected_failure()


def bad_request_view(request, exception=None):
    if isinstance(exception, DisallowedHost):
        host = _printable(request.META.get("HTTP_HOST") or request.META.get("SERVER_NAME", ""))
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        return envelope(
            f"This server does not answer to the host name {host!r}. To serve it, the operator adds "
            f"{name!r} to ALLOWED_HOSTS (comma-separated, in .env or the environment), for example "
            f"ALLOWED_HOSTS=127.0.0.1,localhost,{name}",
            400,
        )
    return envelope("The request could not be understood.", 400)


def _printable(text, limit=100):
    """A header value fit to quote back: printable ASCII only, and not too long."""
    return "".join(c if " " <= c <= "~" else "?" for c in text[:limit])


def permission_denied_view(request, exception=None):
    return envelope("You may not do this.", 403)


def csrf_failure_view(request, reason=""):
    return envelope(
        f"Refused by the cross-site request forgery check ({reason}). The API endpoints need no CSRF token; "
        "see / for them.",
        403,
    )
