import os

from celery import Celery
from celery.signals import beat_init, celeryd_init, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "facenition.settings")

app = Celery("facenition")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def refuse_to_start_with_inconsistent_settings(**kwargs):
    """A worker stops here on an error of the checks the apps tag WORKER (a broker that would hand back
    a dead worker's task only after its code expired, say). Django is set up by now, and every app's
    checks registered: Celery's Django fix-up does it as the worker imports its modules."""
    from django.core.checks import run_checks

    from facenition.checks import WORKER

    errors = [message for message in run_checks(tags=[WORKER]) if message.is_serious()]
    if errors:
        raise SystemExit("\n".join(f"{error.id}: {error.msg}" for error in errors))


@celeryd_init.connect
@beat_init.connect
def refuse_without_a_broker(**kwargs):
    """Without REDIS_URL the web process runs tasks itself; a worker or beat on the in-memory
    broker would wait forever for tasks nobody can send it."""
    from django.conf import settings

    if not settings.REDIS_URL:
        raise SystemExit(
            "REDIS_URL is not set: a Celery worker or beat needs Redis as its broker "
            "(e.g. REDIS_URL=redis://127.0.0.1:6379/0 in .env). Without it the web process runs tasks itself."
        )
