"""Start-up checks for code delivery: a half-configured provider refuses to start, and a server
with a real database but no provider says that its codes go to the log."""

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register

from facenition.checks import WORKER


@register()
def delivery_configured(app_configs, **kwargs):
    problems: list[CheckMessage] = []
    if settings.TWILIO_ACCOUNT_SID and not (settings.TWILIO_AUTH_TOKEN and settings.TWILIO_DEFAULT_CALLERID):
        problems.append(
            Error(
                "TWILIO_ACCOUNT_SID is set but TWILIO_AUTH_TOKEN or TWILIO_DEFAULT_CALLERID is not.",
                hint="Set all three to send texts through Twilio, or none to write them to the log.",
                id="credentials.E001",
            )
        )
    if not settings.EMBEDDED_DATABASE:
        missing = [name for name in ("EMAIL_HOST", "TWILIO_ACCOUNT_SID") if not getattr(settings, name)]
        if missing:
            problems.append(
                Warning(
                    f"{' and '.join(missing)} not set: v2 one-time codes are written to the console, not sent.",
                    id="credentials.W001",
                )
            )
    return problems


@register(WORKER)
def broker_redelivers_within_a_codes_life(app_configs, **kwargs):
    """A task whose worker died comes back after the visibility timeout: while its code still works,
    and not before the longest retry back-off, which the broker also holds unacknowledged."""
    visibility = settings.FACENITION_BROKER_VISIBILITY_SECONDS
    lifetime = settings.FACENITION_CODE_LIFETIME_SECONDS
    retries = settings.FACENITION_DELIVERY_MAX_RETRIES
    longest_backoff = settings.FACENITION_DELIVERY_RETRY_SECONDS * 2 ** (retries - 1) if retries > 0 else 0
    problems = []
    if visibility >= lifetime:
        problems.append(
            Error(
                f"FACENITION_BROKER_VISIBILITY_SECONDS ({visibility}) must be below "
                f"FACENITION_CODE_LIFETIME_SECONDS ({lifetime}): a code whose worker died would come back expired.",
                id="credentials.E030",
            )
        )
    if visibility <= longest_backoff:
        problems.append(
            Error(
                f"FACENITION_BROKER_VISIBILITY_SECONDS ({visibility}) must be above the longest retry back-off "
                f"({longest_backoff} s: FACENITION_DELIVERY_RETRY_SECONDS x 2^(FACENITION_DELIVERY_MAX_RETRIES - 1)), "
                "or a waiting retry would be delivered twice.",
                id="credentials.E031",
            )
        )
    return problems


@register()
def stalled_deliveries_requeued_within_a_codes_life(app_configs, **kwargs):
    stalled, lifetime = settings.FACENITION_DELIVERY_STALLED_SECONDS, settings.FACENITION_CODE_LIFETIME_SECONDS
    if stalled >= lifetime:
        return [
            Error(
                f"FACENITION_DELIVERY_STALLED_SECONDS ({stalled}) must be below FACENITION_CODE_LIFETIME_SECONDS "
                f"({lifetime}): a lost code would be queued again only once expired.",
                id="credentials.E032",
            )
        ]
    return []


@register()
def code_failure_limits_nest(app_configs, **kwargs):
    per_caller, total = settings.FACENITION_CODE_MAX_FAILURES, settings.FACENITION_CODE_MAX_FAILURES_TOTAL
    if total < per_caller:
        return [
            Error(
                f"FACENITION_CODE_MAX_FAILURES_TOTAL ({total}) must be at least FACENITION_CODE_MAX_FAILURES "
                f"({per_caller}): one caller's wrong tries would lock the pair for its owner.",
                id="credentials.E032",
            )
        ]
    return []
