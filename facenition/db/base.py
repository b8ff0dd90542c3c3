"""Django's PostgreSQL backend, with a bound on every wait for an answer on an open connection.

libpq bounds connecting (connect_timeout) and PostgreSQL bounds a running statement
(statement_timeout), but nothing bounds a wait for an answer from a server that has stopped
answering: frozen, or behind a proxy or network that stalls without closing. A kernel still
acknowledges what the client sends, so TCP keepalives and tcp_user_timeout (set too, in
settings.py, for a peer that is gone) never fire, and the thread waited as long as the stall lasted.

So each statement, commit and rollback has FACENITION_DB_READ_TIMEOUT_SECONDS, and the health check
before a connection is reused FACENITION_DB_HEALTH_CHECK_SECONDS (a connection that slow is better
replaced by a new one, which connect_timeout bounds): past it a timer shuts the connection's socket, which ends libpq's wait with an
error. The request answers 502, the broken connection is closed, and the thread serves the next."""

import contextlib
import logging
import os
import socket
import threading

from django.conf import settings
from django.db.backends.postgresql import base

log = logging.getLogger("facenition.db")


class _Watchdog:
    """Shuts socket `fd` after `seconds` unless stopped first."""

    def __init__(self, fd, seconds):
        self.fd = fd
        self.seconds = seconds
        self.lock = threading.Lock()
        self.stopped = False
        self.timer = threading.Timer(seconds, self._cut)
        self.timer.daemon = True
        self.timer.start()

    def _cut(self):
        # Under the lock, so that the socket is still this connection's: it is closed only after stop().
        with self.lock:
            if self.stopped:
                return
            log.warning("PostgreSQL did not answer within %g s: its connection is cut", self.seconds)
            with contextlib.suppress(OSError), socket.socket(fileno=os.dup(self.fd)) as sock:
                sock.shutdown(socket.SHUT_RDWR)

    def stop(self):
        self.timer.cancel()
        with self.lock:
            self.stopped = True


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.execute_wrappers.append(self._bounded_execute)

    @contextlib.contextmanager
    def _answer_within(self, seconds):
        # Not in the test runner's own process, which creates and drops whole databases.
        if settings.TESTING or self.connection is None or self.connection.closed:
            yield
            return
        watchdog = _Watchdog(self.connection.fileno(), seconds)
        try:
            yield
        finally:
            watchdog.stop()

    def _bounded_execute(self, execute, sql, params, many, context):
        with self._answer_within(settings.FACENITION_DB_READ_TIMEOUT_SECONDS):
            return execute(sql, params, many, context)

    def is_usable(self):
        with self._answer_within(settings.FACENITION_DB_HEALTH_CHECK_SECONDS):
            return super().is_usable()

    def init_connection_state(self):
        with self._answer_within(settings.FACENITION_DB_READ_TIMEOUT_SECONDS):
            super().init_connection_state()

    def _commit(self):
        with self._answer_within(settings.FACENITION_DB_READ_TIMEOUT_SECONDS):
            return super()._commit()  # type: ignore[misc]  # private in Django, absent from its stubs

    def _rollback(self):
        with self._answer_within(settings.FACENITION_DB_READ_TIMEOUT_SECONDS):
            return super()._rollback()  # type: ignore[misc]  # private in Django, absent from its stubs

    def _set_autocommit(self, autocommit):
        with self._answer_within(settings.FACENITION_DB_READ_TIMEOUT_SECONDS):
            super()._set_autocommit(autocommit)  # type: ignore[misc]  # private in Django, absent from its stubs
