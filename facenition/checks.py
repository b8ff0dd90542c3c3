"""Start-up checks of the project's own settings: a server with a missing or short secret refuses to start.

Each app registers its own checks (`credentials.checks`, `enrollment.checks`, `matching.checks`); the embedded fallbacks
are announced once, in the server's log (`facenition.startup`)."""

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register
from django.db.models import Count

from .keyring import parse_retired, token_keyring

# Checks a Celery worker runs before it takes a task (facenition.celery), as well as at every start-up.
WORKER = "worker"
# Checks a web process runs when it starts however it was started (facenition.startup), logging each
# problem: gunicorn started directly never runs `manage.py check`.
SERVING = "serving"


@register()
def secrets_configured(app_configs, **kwargs):
    problems: list[CheckMessage] = []
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
    problems += token_keys_problems()
    return problems


def token_keys_problems():
    key = settings.FACENITION_TOKEN_KEY
    if key == settings.MISSING_TOKEN_KEY:
        return [
            Error(
                "FACENITION_TOKEN_KEY is not set: it seals identity tokens and derives one-time codes.",
                hint="Run `make setup`, which writes a random one to .env beside SECRET_KEY, or set "
                "FACENITION_TOKEN_KEY in the environment of the web process and the worker. Replacing one: "
                "see 'Rotating the token key' in docs/operations.md.",
                id="facenition.E004",
            )
        ]
    problems: list[CheckMessage] = []
    if len(key) < 32:
        problems.append(Error("FACENITION_TOKEN_KEY is shorter than 32 characters.", id="facenition.E003"))
    if key == settings.SECRET_KEY:
        problems.append(
            Error(
                "FACENITION_TOKEN_KEY is the same as SECRET_KEY.",
                hint="Give tokens a key of their own; to keep the tokens sealed under the old one, list it in "
                "FACENITION_RETIRED_TOKEN_KEYS.",
                id="facenition.E005",
            )
        )
    retired_keys = parse_retired(settings.FACENITION_RETIRED_TOKEN_KEYS)
    short = [index for index, retired in enumerate(retired_keys, 1) if len(retired) < 32]
    if short:
        problems.append(
            Error(
                f"FACENITION_RETIRED_TOKEN_KEYS: key {', '.join(map(str, short))} is shorter than 32 characters.",
                hint="List the former FACENITION_TOKEN_KEY values exactly, separated by commas.",
                id="facenition.E006",
            )
        )
    if settings.SECRET_KEY in retired_keys:
        problems.append(
            Warning(
                "SECRET_KEY is listed in FACENITION_RETIRED_TOKEN_KEYS: Django's key still opens the identity "
                "tokens sealed under it, and with them the faces they protect.",
                hint="Change SECRET_KEY now (nothing of the tokens depends on it any more); the old value stays "
                "in FACENITION_RETIRED_TOKEN_KEYS until `manage.py token_keys` counts no live token under it.",
                id="facenition.W003",
            )
        )
    if key == settings.DEVELOPMENT_TOKEN_KEY:
        problems.append(
            Warning(
                "FACENITION_TOKEN_KEY is not set: the embedded development server seals tokens under a fixed "
                "development key that anyone can read in the source.",
                hint="Run `make setup` or set FACENITION_TOKEN_KEY before keeping any real enrollment.",
                id="facenition.W002",
            )
        )
    return problems


KEY_BACK_HINT = (
    "Put the former key back in FACENITION_RETIRED_TOKEN_KEYS (`manage.py token_keys` shows the ids of the keys "
    "this server holds), then move what it seals to the current key with `manage.py reseal_tokens` and "
    "`manage.py reseal_galleries`. If the key is lost, so is what it sealed: the people must be enrolled again."
)


def count_missing_keys(rows) -> str:
    """'key 1a2b3c4d: 12, ...' for the rows whose key_id names a token key this server does not hold
    (neither FACENITION_TOKEN_KEY nor one of FACENITION_RETIRED_TOKEN_KEYS), or ''. Each app counts
    what it seals with it, among the database checks, which `migrate` runs on every release (and
    `check --database default`); raises DatabaseError before the app is migrated."""
    held = {key.key_id.hex() for key in token_keyring().keys}
    counts = rows.exclude(key_id__in=held).order_by("key_id").values_list("key_id").annotate(n=Count("pk"))
    return ", ".join(f"key {key_id or '(none)'}: {count}" for key_id, count in counts)


@register()
def timeouts_consistent(app_configs, **kwargs):
    """Each wait fits in the request's deadline, and the deadline in gunicorn's timeout."""
    problems: list[CheckMessage] = []
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
        # A database that stalls: the health check is cut, a new connection is made, its statement waits.
        "FACENITION_DB_HEALTH_CHECK_SECONDS + FACENITION_DB_CONNECT_TIMEOUT_SECONDS"
        " + FACENITION_DB_READ_TIMEOUT_SECONDS": (
            settings.FACENITION_DB_HEALTH_CHECK_SECONDS
            + settings.FACENITION_DB_CONNECT_TIMEOUT_SECONDS
            + settings.FACENITION_DB_READ_TIMEOUT_SECONDS
        ),
        "FACENITION_REDIS_TIMEOUT_SECONDS": settings.FACENITION_REDIS_TIMEOUT_SECONDS,
    }
    if settings.FACENITION_DB_READ_TIMEOUT_SECONDS <= settings.FACENITION_DB_STATEMENT_TIMEOUT_SECONDS:
        problems.append(
            Error(
                f"FACENITION_DB_READ_TIMEOUT_SECONDS ({settings.FACENITION_DB_READ_TIMEOUT_SECONDS}) must be above "
                f"FACENITION_DB_STATEMENT_TIMEOUT_SECONDS ({settings.FACENITION_DB_STATEMENT_TIMEOUT_SECONDS}), so that "
                "PostgreSQL's own timeout ends a slow statement.",
                id="facenition.E022",
            )
        )
    for name, seconds in waits.items():
        if not 0 < seconds < deadline:
            problems.append(
                Error(
                    f"{name} ({seconds:g}) must be above 0 and below FACENITION_REQUEST_DEADLINE_SECONDS ({deadline}).",
                    id="facenition.E021",
                )
            )
    return problems
