"""Start-up checks of the project's own settings: a server with a missing or short secret refuses to start.

Each app registers its own checks (`credentials.checks`, `matching.checks`); the embedded fallbacks
are announced once, in the server's log (`facenition.startup`)."""

from django.conf import settings
from django.core.checks import Error, register


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
def timeouts_consistent(app_configs, **kwargs):
    """Each wait fits in the request's deadline, and the deadline in gunicorn's timeout."""
    problems = []
    deadline = settings.FACENITION_REQUEST_DEADLINE_SECONDS
    if deadline >= settings.GUNICORN_TIMEOUT:
        problems.append(
            Error(
                f"FACENITION_REQUEST_DEADLINE_SECONDS ({deadline}) must be below GUNICORN_TIMEOUT "
                f"({settings.GUNICORN_TIMEOUT}).",
                id="facenition.E020",
            )
        )
    waits = {
        "FACENITION_BODY_READ_SECONDS": settings.FACENITION_BODY_READ_SECONDS,
        "FACENITION_DB_CONNECT_TIMEOUT_SECONDS + FACENITION_DB_STATEMENT_TIMEOUT_SECONDS": (
            settings.FACENITION_DB_CONNECT_TIMEOUT_SECONDS + settings.FACENITION_DB_STATEMENT_TIMEOUT_SECONDS
        ),
        "FACENITION_REDIS_TIMEOUT_SECONDS": settings.FACENITION_REDIS_TIMEOUT_SECONDS,
    }
    for name, seconds in waits.items():
        if not 0 < seconds < deadline:
            problems.append(
                Error(
                    f"{name} ({seconds:g}) must be above 0 and below FACENITION_REQUEST_DEADLINE_SECONDS ({deadline}).",
                    id="facenition.E021",
                )
            )
    return problems
