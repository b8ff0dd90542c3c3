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
import time

from django.conf import settings
from django.db.backends.postgresql import base

log = logging.getLogger("facenition.db")


class _Watchdog:
    """One thread per process keeps every connection's bound: a timer thread per statement would cost
    about 0.3 ms each, as much as a small query."""

    def __init__(self):
        self.condition = threading.Condition()
        self.watched: dict[object, tuple[float, int, float]] = {}
        self.thread: threading.Thread | None = None

    def watch(self, fd, seconds):
        token = object()
        with self.condition:
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="database watchdog", daemon=True)
                self.thread.start()
            deadline = time.monotonic() + seconds
            if all(deadline < other for other, _, _ in self.watched.values()):
                self.condition.notify()  # the thread sleeps until the earliest deadline: this one now
            self.watched[token] = (deadline, fd, seconds)
        return token

    def unwatch(self, token):
        with self.condition:
            self.watched.pop(token, None)

    def _run(self):
        with self.condition:
            while True:
                now = time.monotonic()
                for token, (deadline, fd, seconds) in list(self.watched.items()):
                    if deadline <= now:
                        del self.watched[token]
                        _cut(fd, seconds)
                deadlines = [deadline for deadline, _, _ in self.watched.values()]
                self.condition.wait(min(deadlines) - now if deadlines else None)


def _cut(fd, seconds):
    # Called under the watchdog's lock: the connection is closed only after unwatch(), so `fd` is still its socket.
    log.warning("PostgreSQL did not answer within %g s: its connection is cut", seconds)
    with contextlib.suppress(OSError), socket.socket(fileno=os.dup(fd)) as sock:
        sock.shutdown(socket.SHUT_RDWR)


_watchdog = _Watchdog()


def _new_watchdog_after_fork():
    # gunicorn forks its workers from a master that may have queried: the thread does not survive a fork.
    global _watchdog
    _watchdog = _Watchdog()


os.register_at_fork(after_in_child=_new_watchdog_after_fork)


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
        token = _watchdog.watch(self.connection.fileno(), seconds)
        try:
            yield
        finally:
            _watchdog.unwatch(token)

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
