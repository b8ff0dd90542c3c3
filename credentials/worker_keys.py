"""Which token keys each Celery worker holds, so that `/ready` can tell a worker that cannot make
the codes the web process asks it to send.

A worker announces its key ids in a Redis hash when it is ready and withdraws them when it stops;
the web process compares them with its own current key. A worker killed without stopping leaves its
entry behind, so a mismatch is reported as a warning with the time it was announced, and never
takes the web process out of service (it can still serve everything else)."""

import json
import logging
import time

import redis
from django.conf import settings

from facenition.keyring import token_keyring

log = logging.getLogger("facenition.credentials")

ANNOUNCED = "facenition:worker-token-keys"


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)


def worker_keys_announce(*, hostname: str) -> None:
    keys = [key.key_id.hex() for key in token_keyring().keys]
    _redis().hset(ANNOUNCED, hostname, json.dumps({"keys": keys, "at": time.time()}))
    log.info("worker %s holds token key(s) %s (current %s)", hostname, ", ".join(keys), keys[0])


def worker_keys_withdraw(*, hostname: str) -> None:
    _redis().hdel(ANNOUNCED, hostname)


def worker_keys_readiness() -> str:
    """What `/ready` says about the workers' keys: "ok ..." or "warning: ..." (never "failing")."""
    if not settings.REDIS_URL:
        return "ok: no separate worker (tasks run in the web process)"
    current = token_keyring().current.key_id.hex()
    entries: dict[bytes, bytes] = _redis().hgetall(ANNOUNCED)  # type: ignore[assignment]
    announced = {host.decode(): json.loads(entry) for host, entry in entries.items()}
    if not announced:
        return "warning: no Celery worker has announced itself; v2 codes are not sent until one runs"
    lacking = sorted(host for host, entry in announced.items() if current not in entry["keys"])
    if lacking:
        seen = ", ".join(f"{host} (since {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(announced[host]['at']))})"
                         for host in lacking)  # fmt: skip
        return (
            f"warning: worker(s) {seen} do not hold this server's token key {current}: the v2 codes they send "
            "will not match. Give them the same FACENITION_TOKEN_KEY (and FACENITION_RETIRED_TOKEN_KEYS)."
        )
    return f"ok: {len(announced)} worker(s) hold token key {current}"
