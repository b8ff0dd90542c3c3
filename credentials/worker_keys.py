"""Which token keys each Celery worker holds, so that `/ready` can tell a worker that cannot make
the codes the web process asks it to send.

A running worker keeps an announcement of its key ids in Redis, renewed every ANNOUNCE_EVERY seconds
and expiring after ANNOUNCE_FOR, and withdraws it when it stops: a worker killed without stopping
drops out within ANNOUNCE_FOR. The web process compares them with its own current key. A mismatch is
a warning, never "not ready": the web process can still serve everything else."""

import json
import logging
import threading
import time

import redis
from django.conf import settings

from facenition.keyring import token_keyring

log = logging.getLogger("facenition.credentials")

PREFIX = "facenition:worker-token-keys:"
ANNOUNCE_EVERY = 30
ANNOUNCE_FOR = 90


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)


def worker_keys_announce(*, hostname: str) -> None:
    keys = [key.key_id.hex() for key in token_keyring().keys]
    _redis().set(PREFIX + hostname, json.dumps({"keys": keys, "at": time.time()}), ex=ANNOUNCE_FOR)
    log.debug("worker %s holds token key(s) %s (current %s)", hostname, ", ".join(keys), keys[0])


def worker_keys_keep_announcing(*, hostname: str) -> None:
    """Announces now, then again every ANNOUNCE_EVERY seconds for as long as the process lives."""
    worker_keys_announce(hostname=hostname)

    def renew() -> None:
        while True:
            time.sleep(ANNOUNCE_EVERY)
            try:
                worker_keys_announce(hostname=hostname)
            except redis.RedisError as error:
                log.warning("could not renew this worker's token-key announcement: %s", error)

    threading.Thread(target=renew, name="token-key-announcer", daemon=True).start()


def worker_keys_withdraw(*, hostname: str) -> None:
    _redis().delete(PREFIX + hostname)


def worker_keys_announced() -> dict[str, dict]:
    """{worker hostname: {"keys": [key id, ...], "at": when announced}} of the workers running now."""
    store = _redis()
    names = list(store.scan_iter(match=PREFIX + "*", count=100))
    values = store.mget(names) if names else []
    return {
        name.decode().removeprefix(PREFIX): json.loads(value)
        for name, value in zip(names, values, strict=True)
        if value is not None
    }


def worker_keys_readiness() -> str:
    """What `/ready` says about the workers' keys: "ok ..." or "warning: ..." (never "failing")."""
    if not settings.REDIS_URL:
        return "ok: no separate worker (tasks run in the web process)"
    current = token_keyring().current.key_id.hex()
    announced = worker_keys_announced()
    if not announced:
        return "warning: no Celery worker has announced itself; v2 codes are not sent until one runs"
    lacking = sorted(host for host, entry in announced.items() if current not in entry["keys"])
    if lacking:
        return (
            f"warning: worker(s) {', '.join(lacking)} do not hold this server's token key {current}: the v2 codes "
            "they send will not match. Give them the same FACENITION_TOKEN_KEY (and FACENITION_RETIRED_TOKEN_KEYS)."
        )
    return f"ok: {len(announced)} worker(s) hold token key {current}"
