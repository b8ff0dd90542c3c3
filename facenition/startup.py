"""What a server process does once before it takes requests."""

import logging
import time
from importlib import import_module

from django.conf import settings

log = logging.getLogger("facenition")

# What /ready reports about the face models: "not loaded", "loading", "loaded" or "failed: ...".
models_state = "not loaded"


def announce_configuration():
    if settings.EMBEDDED_DATABASE:
        log.warning("no DATABASE_URL: using the embedded SQLite file %s", settings.DATABASES["default"]["NAME"])
    if not settings.REDIS_URL:
        log.warning("no REDIS_URL: Celery tasks run in-process and the cache lives in the database")


def import_views():
    """Imports the URL configuration, and with it every view, now: Django would import it on the first
    request each worker serves, 150 ms of CPU spent in a request."""
    import_module(settings.ROOT_URLCONF)


def warm_up_models():
    """Loads the face models and builds the identity tokens' code now so that no request pays for it."""
    global models_state
    if not settings.FACENITION_WARM_UP:
        return
    from matching.reading import face_pipeline

    models_state = "loading"
    try:
        started = time.perf_counter()
        face_pipeline().warm_up().add_readers(settings.FACENITION_PHOTO_THREADS)
        log.info("face models loaded and run once in %.2f s", time.perf_counter() - started)

        from enrollment.protection import warm_up

        started = time.perf_counter()
        warm_up()
        log.info("identity-token error-correcting code built in %.2f s", time.perf_counter() - started)
    except Exception as error:
        models_state = f"failed: {type(error).__name__}"
        raise
    models_state = "loaded"
