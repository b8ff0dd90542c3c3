"""The request id: one per request, quoted by error answers and carried by every log line.

An incoming `X-Request-Id` (from a load balancer or the caller) is kept when it is a sane token,
so one id follows a request across services; otherwise a fresh one is made. The id lives in a
ContextVar, which `RequestIdFilter` copies onto every log record (`-` outside a request), and it
goes back in the `X-Request-Id` response header, where gunicorn's access log reads it
(`AccessLogger`). `JsonFormatter` writes one JSON object per line for `LOG_FORMAT=json`.
"""

import json
import logging
import re
import traceback
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime

HEADER = "X-Request-Id"
NO_REQUEST = "-"
# Long enough for a UUID or a trace id, short and plain enough to be safe in a log line.
ACCEPTABLE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

_request_id: ContextVar[str] = ContextVar("request_id", default=NO_REQUEST)


def current_request_id():
    return _request_id.get()


def new_request_id():
    return uuid.uuid4().hex[:16]


class RequestIdMiddleware:
    """Tags each request with its id, for the answer's header, error messages and the logs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get(HEADER, "").strip()
        request.request_id = incoming if ACCEPTABLE.match(incoming) else new_request_id()
        token = _request_id.set(request.request_id)
        try:
            response = self.get_response(request)
        finally:
            _request_id.reset(token)
        response[HEADER] = request.request_id
        return response


class RequestIdFilter(logging.Filter):
    """Gives every record a `request_id` attribute: the current request's, unless it has one."""

    def filter(self, record):
        if not getattr(record, "request_id", None):
            record.request_id = current_request_id()
        return True


class DisallowedHostFilter(logging.Filter):
    """A request for a host this server does not serve is a client's mistake or a scanner, not a
    failure of the server: Django's ERROR with a traceback becomes one WARNING line naming the host
    and the setting that would allow it."""

    def filter(self, record):
        request = getattr(record, "request", None)
        meta = getattr(request, "META", {})
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info = record.exc_text = None
        record.msg = (
            "refused a request for host %r: it is not in ALLOWED_HOSTS (comma-separated, in the "
            "environment); add it there if this server should answer it"
        )
        record.args = (meta.get("HTTP_HOST") or meta.get("SERVER_NAME", "-"),)
        return True


# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged too.
STANDARD_ATTRIBUTES = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, request_id, message, extras, exception."""

    def format(self, record):
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", NO_REQUEST),
            "message": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name not in STANDARD_ATTRIBUTES and name not in entry:
                entry[name] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def logging_config(*, log_format, level):
    """The LOGGING dict: one console handler, plain or JSON, with the request id on every line."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {"()": "facenition.requestid.RequestIdFilter"},
            "disallowed_host": {"()": "facenition.requestid.DisallowedHostFilter"},
        },
        "formatters": {
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
            "json": {"()": "facenition.requestid.JsonFormatter"},
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": log_format, "filters": ["request_id"]},
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.request": {"level": "ERROR"},
            "django.security.DisallowedHost": {"filters": ["disallowed_host"]},
            "facenition.access": {"level": "INFO"},
        },
    }


REDACTED = "[redacted]"
# A parameter's name is kept when it reads as one (it tells which search or option was used); a
# longer or odder one could itself be the secret, as a bare `?fnc_...` would be.
PARAMETER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}$")


def redacted_query(query):
    """The query string with every value replaced: the admin's searches carry full email addresses
    and phone numbers (`?q=`), and a client token may come as `?auth_token=`. Names are kept."""
    items = []
    for item in query.split("&"):
        name, has_value, _ = item.partition("=")
        if item:
            items.append(f"{name}={REDACTED}" if has_value and PARAMETER_NAME.match(name) else REDACTED)
    return "&".join(items)


try:
    from gunicorn.config import AccessLogFormat
    from gunicorn.glogging import Logger as _GunicornLogger
except ImportError:  # gunicorn is only needed to serve
    AccessLogFormat = None
    _GunicornLogger = object


class AccessLogger(_GunicornLogger):
    """gunicorn's access log, written through Django's logging (plain or JSON) with the request id
    taken from the answer's X-Request-Id header: the request's context is gone by then. An
    `--access-logformat` of one's own is written by gunicorn as usual (`%({x-request-id}o)s` is the id).
    Either way the query string's values are redacted (`redacted_query`)."""

    through = logging.getLogger("facenition.access")

    def access(self, resp, req, environ, request_time):
        if not self.access_log_enabled:
            return
        if self.cfg.access_log_format != AccessLogFormat.default:
            return super().access(resp, req, environ, request_time)
        try:
            self._write(resp, req, environ, request_time)
        except Exception:
            # As gunicorn does: a failing access line must never cost the client its answer.
            self.error(traceback.format_exc())

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        query = redacted_query(environ.get("QUERY_STRING", ""))
        uri = environ.get("RAW_URI", "").partition("?")[0] + (f"?{query}" if query else "")
        request_line = f"{environ['REQUEST_METHOD']} {uri} {environ['SERVER_PROTOCOL']}"
        atoms.update({"r": request_line, "q": query, "{query_string}e": query, "{raw_uri}e": uri})
        return atoms

    def _write(self, resp, req, environ, request_time):
        request_id = next((value for name, value in resp.headers if name.lower() == HEADER.lower()), NO_REQUEST)
        # gunicorn's own refusals (400, 414, 431) come with `status` set but no `status_code`.
        code = str(resp.status).split(None, 1)[0]
        status = int(code) if code.isdigit() else code
        query = f"?{redacted_query(req.query)}" if req.query else ""
        duration_ms = round(request_time.total_seconds() * 1000, 1)
        self.through.info(
            '%s "%s %s%s" %s %s ms',
            environ.get("REMOTE_ADDR", "-"),
            req.method,
            req.path,
            query,
            status,
            duration_ms,
            extra={
                "request_id": request_id,
                "remote_addr": environ.get("REMOTE_ADDR", "-"),
                "method": req.method,
                "path": req.path,
                "query": redacted_query(req.query),
                "status": status,
                "duration_ms": duration_ms,
                "response_bytes": getattr(resp, "sent", None),
            },
        )
