import secrets
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from facenition.api.errors import Gone, Missing, Unauthorized

from .models import ClientToken, secret_digest

TOKEN_SCHEME = "fnc"
# Recording every use would write on every request; once a minute is enough to tell activity.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _split(raw):
    parts = raw.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_SCHEME or not parts[1] or not parts[2]:
        return None
    return parts[1]


def client_token_issue(*, name="", email="", phone="", api_version="1", lifetime=None):
    """Creates a client token and returns (row, plaintext). The plaintext is never stored."""
    lifetime = lifetime or timedelta(days=settings.FACENITION_CLIENT_TOKEN_DAYS)
    prefix = secrets.token_hex(6)
    raw = f"{TOKEN_SCHEME}_{prefix}_{secrets.token_urlsafe(32)}"
    now = timezone.now()
    token = ClientToken.objects.create(
        prefix=prefix,
        digest=secret_digest(raw),
        name=name,
        email=email,
        phone=phone,
        api_version=api_version,
        created_at=now,
        expires_at=now + lifetime,
    )
    return token, raw


def client_token_find(*, raw):
    """The row a presented token belongs to, or None. Compares digests in constant time."""
    prefix = _split(raw)
    if prefix is None:
        return None
    token = ClientToken.objects.filter(prefix=prefix).first()
    if token is None or not token.matches(raw):
        return None
    return token


def client_token_authenticate(*, raw):
    token = client_token_find(raw=raw)
    if token is None:
        raise Unauthorized("The client token is not valid. Ask /generateToken for a new one.")
    if token.is_revoked():
        raise Unauthorized("The client token was revoked. Ask /generateToken for a new one.")
    if token.is_expired():
        raise Unauthorized("The client token has expired. Ask /generateToken for a new one.")
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ClientToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def client_token_describe(*, raw):
    """What /token tells about a presented token; unknown → 404, revoked or expired → 410."""
    token = client_token_find(raw=raw) if raw else None
    if token is None:
        raise Missing("No such client token.")
    if token.is_revoked():
        raise Gone(f"This client token was revoked at {token.revoked_at.isoformat()}.")
    if token.is_expired():
        raise Gone(f"This client token expired at {token.expires_at.isoformat()}.")
    return token


def client_token_revoke(*, token):
    token.revoke()
    return token
