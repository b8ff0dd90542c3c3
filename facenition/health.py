"""Liveness and readiness, for load balancers and orchestrators.

`/health` says only that the process answers. `/ready` says whether it can serve: the database
and the cache answer, the broker answers when there is one, and the face models are loaded (with
FACENITION_WARM_UP off they load on first use, which does not hold readiness back). Apps add
advisory findings with `register_advisory` (which workers hold the token key, say): they show as
"ok ..." or "warning: ..." and never hold readiness back.
"""

import logging
import uuid
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from facenition import startup

log = logging.getLogger("facenition")


class NotReady(Exception):
    """A check's own finding, safe to show; other failures show only their class, and are logged."""


def _database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _cache():
    key, value = "facenition:ready", uuid.uuid4().hex
    cache.set(key, value, timeout=10)
    if cache.get(key) != value:
        raise NotReady("a value written to the cache could not be read back")


def _broker():
    import redis

    redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2).ping()


def _models():
    if not settings.FACENITION_WARM_UP:
        return "loaded on first use"
    if startup.models_state != "loaded":
        raise NotReady(f"face models {startup.models_state}")
    return "loaded"


ADVISORIES: dict[str, Callable[[], str]] = {}


def register_advisory(name: str, check: Callable[[], str]) -> None:
    ADVISORIES[name] = check


def readiness():
    """(ready, {check: "ok" or what is wrong}) for every dependency a request may need."""
    checks = {"database": _database, "cache": _cache, "models": _models}
    if settings.REDIS_URL:
        checks["broker"] = _broker
    results = {}
    for name, check in checks.items():
        try:
            results[name] = check() or "ok"
        except NotReady as finding:
            results[name] = f"failing: {finding}"
        except Exception as error:
            log.warning("readiness check %s failed: %s", name, error)
            results[name] = f"failing: {type(error).__name__}"
    ready = not any(result.startswith("failing") for result in results.values())
    for name, advisory in ADVISORIES.items():
        try:
            results[name] = advisory()
        except Exception as error:
            log.warning("readiness advisory %s could not be read: %s", name, error)
            results[name] = f"warning: could not be read ({type(error).__name__})"
    return ready, results
