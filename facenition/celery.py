import os

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "facenition.settings")

app = Celery("facenition")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def refuse_to_start_with_inconsistent_settings(**kwargs):
    """A worker whose broker would hand back a dead worker's task only after the code expired stops here."""
    from credentials.checks import broker_redelivers_within_a_codes_life

    errors = broker_redelivers_within_a_codes_life(None)
    if errors:
        raise SystemExit("\n".join(f"{error.id}: {error.msg}" for error in errors))
