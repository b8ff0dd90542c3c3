"""What a server process does once before it takes requests."""

import logging
import time
from collections.abc import Callable
from importlib import import_module

from django.conf import settings

log = logging.getLogger("facenition")

# What /ready reports about the face models: "not loaded", "loading", "loaded" or "failed: ...".
models_state = "not loaded"
WARM_UPS: list[tuple[str, Callable[[], object]]] = []


def announce_configuration():
    if settings.EMBEDDED_DATABASE:
        log.warning("no DATABASE_URL: using the embedded SQLite file %s", settings.DATABASES["default"]["NAME"])
    if not settings.REDIS_URL:
        log.warning("no REDIS_URL: Celery tasks run in-process and the cache lives in the database")
    from django.core.checks import run_checks

    from facenition.checks import SERVING

    for message in run_checks(tags=[SERVING]):
        hint = f" ({message.hint})" if message.hint else ""
        log.log(message.level, "%s: %s%s", message.id, message.msg, hint)


def import_views():
    """Imports the URL configuration, and with it every view, now: Django would import it on the first
    request each worker serves, 150 ms of CPU spent in a request."""
    import_module(settings.ROOT_URLCONF)


def register_warm_up(done: str, work: Callable[[], object]) -> None:
    """Work an app has done once per process before it serves (from its `AppConfig.ready`), so that no
    request pays for it: `work` runs in `warm_up_models`, logged as "<done> in 1.23 s"."""
    WARM_UPS.append((done, work))


def warm_up_models():
    """Runs the work every app registered, in the order the apps are installed."""
    global models_state
    if not settings.FACENITION_WARM_UP:
        return
    models_state = "loading"
    try:
        for done, work in WARM_UPS:
            started = time.perf_counter()
            work()
            log.info("%s in %.2f s", done, time.perf_counter() - started)
    except Exception as error:
        models_state = f"failed: {type(error).__name__}"
        raise
    models_state = "loaded"
