"""Counting events against a rate in the shared cache, for the API's throttles and for services.

django-ratelimit counts in CACHES["default"]: Redis, or the database cache when there is no
REDIS_URL; never a per-process memory. An unreachable store refuses (502) rather than lets through.
"""

import logging

from django.db import DatabaseError
from django_ratelimit.core import get_usage
from redis.exceptions import RedisError

from facenition.errors import TooManyRequests, UpstreamFailure

log = logging.getLogger("facenition.api")

STORE_DOWN = "The rate-limit store is unreachable, so this endpoint is not serving requests; try again shortly."


def rate_limit_count(*, group: str, key: str, rate: str, message: str) -> None:
    """Counts one event for `key` within `group`. Raises TooManyRequests (with Retry-After) once
    more than `rate` events fall in the current window, UpstreamFailure when the store is down."""
    _usage(group=group, key=key, rate=rate, message=message, increment=True)


def rate_limit_check(*, group: str, key: str, rate: str, message: str) -> None:
    """Raises as rate_limit_count would if `key` has used up `rate` already, without counting: for
    events counted only once their outcome is known (a wrong code)."""
    _usage(group=group, key=key, rate=rate, message=message, increment=False)


def _usage(*, group: str, key: str, rate: str, message: str, increment: bool) -> None:
    try:
        usage = get_usage(None, group=group, key=lambda _group, _request: key, rate=rate, increment=increment)
    except (RedisError, DatabaseError, OSError) as error:
        log.error("rate limit store unreachable: %s", error)
        raise UpstreamFailure(STORE_DOWN) from None
    if usage is None:  # RATELIMIT_ENABLE is off
        return
    # django-ratelimit's answer when the store could not count. Not `time_left < 0` alone: that
    # also happens when the window closes while the count is being taken.
    if usage["count"] == 0 and usage["limit"] == 0:
        raise UpstreamFailure(STORE_DOWN)
    used_up = usage["should_limit"] if increment else usage["count"] >= usage["limit"]
    if used_up:
        raise TooManyRequests(message, retry_after=max(1, usage["time_left"]))
