"""Start-up checks: a server with a missing secret or missing model weights refuses to start."""

from django.conf import settings
from django.core.checks import Error, Info, register


@register()
def secrets_configured(app_configs, **kwargs):
    problems = []
    if settings.SECRET_KEY == settings.MISSING_SECRET:
        problems.append(
            Error(
                "SECRET_KEY is not set.",
                hint="Run `make setup`, which writes a random one to .env, or set SECRET_KEY in the environment.",
                id="facenition.E001",
            )
        )
    elif len(settings.SECRET_KEY) < 32:
        problems.append(Error("SECRET_KEY is shorter than 32 characters.", id="facenition.E002"))
    if len(settings.FACENITION_TOKEN_KEY) < 32:
        problems.append(Error("FACENITION_TOKEN_KEY is shorter than 32 characters.", id="facenition.E003"))
    return problems


@register()
def embedded_services(app_configs, **kwargs):
    notes = []
    if settings.EMBEDDED_DATABASE:
        notes.append(
            Info(
                f"No DATABASE_URL: using the embedded SQLite file {settings.DATABASES['default']['NAME']}.",
                id="facenition.I001",
            )
        )
    if not settings.REDIS_URL:
        notes.append(
            Info("No REDIS_URL: Celery tasks run in-process and the cache lives in the database.", id="facenition.I002")
        )
    return notes


@register()
def model_weights_present(app_configs, **kwargs):
    from matching.pipeline import missing_weights

    missing = missing_weights(settings.FACENITION_MODEL, settings.FACENITION_DETECTOR, settings.DEEPFACE_HOME)
    if not missing or settings.FACENITION_MODEL != "Dlib":
        return []
    return [
        Error(
            f"Model weights missing: {', '.join(missing)}.",
            hint="Run `make setup` (or `python manage.py place_weights`).",
            id="facenition.E010",
        )
    ]
