import zlib

import pytest

from facenition.errors import TooManyRequests
from facenition.ratelimits import rate_limit_count


class TickingClock:
    """A clock that moves one second every time it is read."""

    def __init__(self, start):
        self.now = start

    def time(self):
        self.now += 1
        return self.now - 1


def test_a_window_closing_mid_count_is_not_taken_for_a_store_failure(monkeypatch):
    key = "clock-edge"
    period = 60
    # Start exactly on this key's window edge, so the window ends "now" and has passed by the time
    # django-ratelimit works out how long is left.
    start = 60 * 30_000_000 + zlib.crc32(key.encode()) % period
    clock = TickingClock(start)
    monkeypatch.setattr("django_ratelimit.core.time", clock)
    for _ in range(2):
        rate_limit_count(group="edge-test", key=key, rate="5/m", message="slow down")


def test_over_the_limit_is_429_with_retry_after():
    for _ in range(3):
        rate_limit_count(group="limit-test", key="k", rate="3/h", message="slow down")
    with pytest.raises(TooManyRequests) as raised:
        rate_limit_count(group="limit-test", key="k", rate="3/h", message="slow down")
    assert raised.value.status == 429 and int(raised.value.headers["Retry-After"]) >= 1
