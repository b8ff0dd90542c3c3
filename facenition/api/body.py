"""The request body's deadline: a client may take at most FACENITION_BODY_READ_SECONDS to send it.

A WSGI wrapper (facenition/wsgi.py) rather than a middleware, because Django takes hold of
`wsgi.input` before any middleware runs. A slower client gets 408 and its thread back."""

import contextlib
import socket
import threading


class BodyTooSlow(OSError):
    """The client took longer than FACENITION_BODY_READ_SECONDS to send its body."""


class _DeadlineReader:
    """`wsgi.input`, cut off at the deadline: a timer shuts the socket's reading side, which ends the
    read the server is blocked in, however the client paces its bytes."""

    def __init__(self, stream, sock, seconds):
        self.stream = stream
        self.sock = sock
        self.expired = False
        self.timer = threading.Timer(seconds, self._cut)
        self.timer.daemon = True
        if sock is not None:
            self.timer.start()

    def _cut(self):
        self.expired = True
        with contextlib.suppress(OSError):  # the client is gone already
            self.sock.shutdown(socket.SHUT_RD)

    def finish(self):
        self.timer.cancel()

    def _bounded(self, read, *args):
        if self.expired:
            raise BodyTooSlow("the request body took too long to arrive")
        try:
            data = read(*args)
        except Exception:
            if self.expired:
                raise BodyTooSlow("the request body took too long to arrive") from None
            raise
        if self.expired:
            raise BodyTooSlow("the request body took too long to arrive")
        return data

    def read(self, *args):
        return self._bounded(self.stream.read, *args)

    def readline(self, *args):
        return self._bounded(self.stream.readline, *args)

    def readlines(self, *args):
        return self._bounded(self.stream.readlines, *args)

    def __iter__(self):
        return iter(self.readline, b"")


class BodyDeadline:
    """WSGI wrapper: the request body must have arrived within `seconds` of the request's start. The
    timer stops when the application returns, so it never cuts a connection that is sending its answer."""

    def __init__(self, application, seconds):
        self.application = application
        self.seconds = seconds

    def __call__(self, environ, start_response):
        reader = _DeadlineReader(environ["wsgi.input"], environ.get("gunicorn.socket"), self.seconds)
        environ["wsgi.input"] = reader
        try:
            return self.application(environ, start_response)
        finally:
            reader.finish()
