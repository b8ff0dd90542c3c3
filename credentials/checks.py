"""Start-up checks for code delivery: a half-configured provider refuses to start, and a server
with a real database but no provider says that its codes go to the log."""

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register


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
