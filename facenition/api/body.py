"""The request body's deadline: a client may take at most FACENITION_BODY_READ_SECONDS to send it.

A WSGI wrapper (facenition/wsgi.py) rather than a middleware, because Django takes hold of
`wsgi.input` before any middleware runs. A slower client gets 408 and its thread back.

It also keeps the answer honest about the connection. A request refused before its body was read
(an oversized Content-Length, a missing client token) leaves the body on the socket: a short rest
is drained, so the connection serves the next request; past DRAIN_BYTES, or when the rest's size is
unknown, the answer says `Connection: close` and the connection closes after it, instead of saying
keep-alive and then closing under a client still sending.

A body sent chunked (Transfer-Encoding: chunked, no Content-Length) is read whole here, within the
same deadline and FACENITION_MAX_REQUEST_BYTES, and handed on with its length: Django reads only as
many bytes as a Content-Length announces, and so saw such a body as empty."""

import contextlib
import io
import socket
import threading

from django.core.exceptions import RequestDataTooBig

DRAIN_BYTES = 64 * 1024
CHUNK_BYTES = 64 * 1024


class BodyTooSlow(OSError):
    """The client took longer than FACENITION_BODY_READ_SECONDS to send its body."""


class _DeadlineReader:
    """`wsgi.input`, cut off at the deadline: a timer shuts the socket's reading side, which ends the
    read the server is blocked in, however the client paces its bytes. The timer runs from the first
    read of the body to its last byte, so that what the server waits for before reading (the
    database, Redis) or after is never counted against the client."""

    def __init__(self, stream, sock, seconds, length):
        self.stream = stream
        self.sock = sock
        self.length = length
        self.expired = False
        self.consumed = 0
        self.ended = False
        self.started = False
        self.timer = threading.Timer(seconds, self._cut)
        self.timer.daemon = True

    def _cut(self):
        self.expired = True
        with contextlib.suppress(OSError):  # the client is gone already
            self.sock.shutdown(socket.SHUT_RD)

    def finish(self):
        self.timer.cancel()

    def _bounded(self, read, *args):
        if self.expired:
            raise BodyTooSlow("the request body took too long to arrive")
        if self.sock is not None and not self.started and not self.finished():
            self.started = True
            self.timer.start()
        try:
            data = read(*args)
        except Exception:
            if self.expired:
                raise BodyTooSlow("the request body took too long to arrive") from None
            raise
        if self.expired:
            raise BodyTooSlow("the request body took too long to arrive")
        return data

    def _counted(self, data, asked):
        self.consumed += len(data)
        self.ended = self.ended or (not data and asked != 0)
        if self.finished():
            self.timer.cancel()
        return data

    def finished(self):
        """Whether the whole body is in: the client owes nothing more."""
        return self.ended or (self.length is not None and self.consumed >= self.length)

    def read(self, *args):
        return self._counted(self._bounded(self.stream.read, *args), args[0] if args else None)

    def readline(self, *args):
        return self._counted(self._bounded(self.stream.readline, *args), args[0] if args else None)

    def readlines(self, *args):
        lines = self._bounded(self.stream.readlines, *args)
        self._counted(b"".join(lines), None)
        return lines

    def __iter__(self):
        return iter(self.readline, b"")


class BodyDeadline:
    """WSGI wrapper: the request body must have arrived within `seconds` of its first read. The timer
    stops at the body's last byte, or when the application returns, so it never cuts a connection
    that is sending its answer."""

    def __init__(self, application, seconds, max_bytes):
        self.application = application
        self.seconds = seconds
        self.max_bytes = max_bytes

    def __call__(self, environ, start_response):
        reader = _DeadlineReader(
            environ["wsgi.input"], environ.get("gunicorn.socket"), self.seconds, _announced_length(environ)
        )
        environ["wsgi.input"] = reader
        if _chunked(environ) and not environ.get("CONTENT_LENGTH"):
            environ["wsgi.input"], environ["CONTENT_LENGTH"] = _read_whole(reader, self.max_bytes)

        def start_answer(status, headers, exc_info=None):
            if not _drained(reader, environ):
                _close_after_answer(start_response)
            return start_response(status, headers, exc_info)

        try:
            return self.application(environ, start_answer)
        finally:
            reader.finish()


def _announced_length(environ):
    """The body's Content-Length; None when it is chunked or unreadable."""
    if _chunked(environ):
        return None
    try:
        return int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None


def _chunked(environ):
    return "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()


class _Unreadable:
    """The body of a chunked request that could not be read whole: reading it raises why, which the
    API's exception handler answers (408 for a slow client, 400 for too large a body)."""

    def __init__(self, error):
        self.error = error

    def read(self, *args):
        raise self.error

    readline = read


def _read_whole(reader, max_bytes):
    """(`wsgi.input`, CONTENT_LENGTH) for a chunked body: the body itself, or, when it is too slow or
    too large, a stream that says so on the first read."""
    parts, size = [], 0
    try:
        while data := reader.read(CHUNK_BYTES):
            size += len(data)
            if size > max_bytes:
                return _Unreadable(RequestDataTooBig("the chunked body is too large")), "1"
            parts.append(data)
    except OSError as error:  # the client is gone, or too slow (BodyTooSlow)
        return _Unreadable(error), "1"
    return io.BytesIO(b"".join(parts)), str(size)


def _drained(reader, environ):
    """Whether the whole body has been read, once at most DRAIN_BYTES more of it are."""
    if reader.ended:
        return True
    if _chunked(environ):
        return False  # of unknown size, and not read: too large
    try:
        left = int(environ.get("CONTENT_LENGTH") or 0) - reader.consumed
    except ValueError:
        return False
    if left > DRAIN_BYTES:
        return False
    try:
        while left > 0:
            data = reader.read(min(left, 8192))
            if not data:
                return False
            left -= len(data)
    except OSError:  # the client is gone, or too slow (BodyTooSlow)
        return False
    return True


def _close_after_answer(start_response):
    """Has the server answer `Connection: close` and close once the answer is sent. An application
    may not send that hop-by-hop header itself (PEP 3333; gunicorn drops it): gunicorn's
    start_response is a method of its response, whose force_close does it. Other servers (the
    development server) are left to their own handling."""
    force_close = getattr(getattr(start_response, "__self__", None), "force_close", None)
    if callable(force_close):
        force_close()
