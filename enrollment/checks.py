"""Start-up checks of identity tokens: live tokens sealed under a token key the server no longer holds."""

from django.core.checks import CheckMessage, Tags, Warning, register
from django.db import DatabaseError
from django.utils import timezone

from facenition.checks import KEY_BACK_HINT, count_missing_keys

from .models import Enrollment


@register(Tags.database)
def tokens_sealed_under_keys_held(app_configs, databases=None, **kwargs):
    """Live identity tokens sealed under a token key the server no longer holds cannot be opened."""
    if not databases:
        return []
    # A fit1 token names no key (each held key is tried in turn): it cannot be counted here.
    live = Enrollment.objects.filter(revoked_at__isnull=True, expires_at__gt=timezone.now()).exclude(key_id="")
    try:
        tokens = count_missing_keys(live)
    except DatabaseError:  # not migrated yet: nothing is sealed
        return []
    problems: list[CheckMessage] = []
    if tokens:
        problems.append(
            Warning(
                f"Live identity tokens are sealed under token keys this server no longer holds ({tokens}): "
                "clients presenting them are answered 409.",
                hint=KEY_BACK_HINT,
                id="enrollment.W001",
            )
        )
    return problems
