import logging
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import NamedTuple
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from kombu.exceptions import KombuError

from facenition.errors import Conflict, Forbidden, Gone, NotFound, TooManyRequests, Unauthorized, UpstreamFailure
from facenition.ratelimits import rate_limit_count

from .delivery import DeliveryFailed, email_send, sms_send
from .models import Channel, Client, ClientToken, Delivery, Verification, secret_digest
from .tasks import deliver_code

log = logging.getLogger("facenition.credentials")

TOKEN_SCHEME = "fnc"
# Recording every use would write on every request; once a minute is enough to tell activity.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _split(raw: str) -> str | None:
    parts = raw.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_SCHEME or not parts[1] or not parts[2]:
        return None
    return parts[1]


def client_create(*, name: str = "", email: str = "", phone: str = "", verified_at: datetime | None = None) -> Client:
    return Client.objects.create(name=name, email=email, phone=phone, verified_at=verified_at)


class IssuedToken(NamedTuple):
    """A credential just issued: its row, and its plaintext, which is shown this once and never stored."""

    token: ClientToken
    raw: str


def client_token_issue(
    *,
    client: Client | None = None,
    name: str = "",
    email: str = "",
    phone: str = "",
    api_version: str = "1",
    lifetime: timedelta | None = None,
    rotated_from: ClientToken | None = None,
) -> IssuedToken:
    """Issues a credential for `client` (a new client when None)."""
    lifetime = lifetime or timedelta(days=settings.FACENITION_CLIENT_TOKEN_DAYS)
    if client is None:
        client = client_create(name=name, email=email, phone=phone)
    prefix = secrets.token_hex(6)
    raw = f"{TOKEN_SCHEME}_{prefix}_{secrets.token_urlsafe(32)}"
    now = timezone.now()
    token = ClientToken.objects.create(
        client=client,
        prefix=prefix,
        digest=secret_digest(raw),
        api_version=api_version,
        created_at=now,
        expires_at=now + lifetime,
        rotated_from=rotated_from,
    )
    return IssuedToken(token=token, raw=raw)


def client_token_issue_v1(*, name: str = "", email: str = "") -> IssuedToken:
    """v1 /generateToken: a new client and its first credential, without proof, unless the operator
    turned that off (FACENITION_V1_TOKENS=false)."""
    if not settings.FACENITION_V1_TOKENS:
        raise Forbidden("this server issues tokens to verified pairs only; use v2")
    return client_token_issue(name=name, email=email, api_version="1")


def client_token_find(*, raw: str) -> ClientToken | None:
    """The row a presented token belongs to, or None. Compares digests in constant time."""
    prefix = _split(raw)
    if prefix is None:
        return None
    token = ClientToken.objects.filter(prefix=prefix).select_related("client").first()
    if token is None or not token.matches(raw):
        return None
    return token


def client_token_authenticate(*, raw: str) -> ClientToken:
    token = client_token_find(raw=raw)
    if token is None:
        raise Unauthorized("The client token is not valid. Ask /generateToken for a new one.")
    if token.is_revoked():
        raise Unauthorized(
            "The client token was revoked"
            + (" when it was rotated; use the newer one." if hasattr(token, "rotated_to") else ".")
            + " Ask /generateToken for a new one."
        )
    if token.is_expired():
        raise Unauthorized("The client token has expired. Ask /generateToken for a new one.")
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ClientToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def client_token_describe(*, raw: str | None) -> ClientToken:
    """What /token tells about a presented token; unknown → 404, revoked or expired → 410."""
    token = client_token_find(raw=raw) if raw else None
    if token is None:
        raise NotFound("No such client token.")
    if token.revoked_at is not None:
        raise Gone(f"This client token was revoked at {token.revoked_at.isoformat()}.")
    if token.is_expired():
        raise Gone(f"This client token expired at {token.expires_at.isoformat()}.")
    return token


def client_token_revoke(*, token: ClientToken) -> ClientToken:
    """Revokes one credential; the client and its enrollments stay."""
    token.revoke()
    return token


def client_token_rotate(*, token: ClientToken) -> IssuedToken:
    """A new credential for the token's client, like /generateToken issues; the old one stops working
    at once."""
    with transaction.atomic():
        token = ClientToken.objects.select_for_update().select_related("client").get(pk=token.pk)
        if not token.is_active():
            raise Unauthorized("This client token is no longer active; only an active one can be rotated.")
        issued = client_token_issue(client=token.client, api_version=token.api_version, rotated_from=token)
        token.revoke()
    return issued


@dataclass(frozen=True)
class V1Retirement:
    tokens: int  # active v1 client tokens revoked (or, in a dry run, that would be)
    clients: int  # the clients they belong to


def client_tokens_retire_v1(*, dry_run: bool = False, now: datetime | None = None) -> V1Retirement:
    """Revokes every active client token of API version 1: those /generateToken issued without proof
    of an email or phone (and `issue_token`'s, which carry version 1 too). FACENITION_V1_TOKENS=false
    only stops new ones. Clients keep their enrollments and galleries, for a credential the operator
    may issue them again (`issue_token --client`); a v2 verification makes a new client."""
    now = now or timezone.now()
    active = ClientToken.objects.filter(api_version="1", revoked_at__isnull=True, expires_at__gt=now)
    with transaction.atomic():
        clients = active.values("client").distinct().count()
        tokens = active.count() if dry_run else active.update(revoked_at=now)
    return V1Retirement(tokens=tokens, clients=clients)


@dataclass(frozen=True)
class ClientDeletion:
    client: str
    credentials: int
    enrollments: int
    gallery_subjects: int = 0
    gallery_faces: int = 0


def client_delete(*, client: Client) -> ClientDeletion:
    """Deletes a client with its credentials, its enrollments (whose identity tokens then answer 410)
    and its gallery; says how many of each went."""
    from enrollment.models import Enrollment
    from matching.models import Face, Subject

    with transaction.atomic():
        described = str(client)
        credentials = ClientToken.objects.filter(client=client).count()
        enrollments = Enrollment.objects.filter(client=client).count()
        subjects = Subject.objects.filter(gallery__client=client).count()
        faces = Face.objects.filter(subject__gallery__client=client).count()
        client.delete()
    log.info(
        "deleted %s with %d credential(s), %d enrollment(s) and %d gallery subject(s) of %d face(s)",
        described, credentials, enrollments, subjects, faces,
    )  # fmt: skip
    return ClientDeletion(
        client=described,
        credentials=credentials,
        enrollments=enrollments,
        gallery_subjects=subjects,
        gallery_faces=faces,
    )


def verification_current(*, email: str, phone: str, for_update: bool = False) -> Verification | None:
    """The pair's latest verification, which alone counts; None when the pair never asked."""
    verifications = Verification.objects.filter(email=email, phone=phone).order_by("-created_at")
    if for_update:
        verifications = verifications.select_for_update()
    return verifications.first()


def verification_request(*, email: str, phone: str) -> Verification:
    """Sends the pair two one-time codes, one by email and one by SMS, through Celery once the row
    is committed. While the pair's verification is still pending, the same codes are sent again
    and its failure count stays. Past FACENITION_CODE_SEND_RATE sends → 429."""
    rate = settings.FACENITION_CODE_SEND_RATE
    rate_limit_count(
        group="credentials.code-sends",
        key=f"{email} {phone}",  # django-ratelimit keeps only a hash of it
        rate=rate,
        message=f"Codes were sent to this email and phone too often (at most {rate}); wait for the Retry-After time.",
    )
    with transaction.atomic():
        verification = verification_current(email=email, phone=phone, for_update=True)
        if verification is None or not verification.is_pending():
            verification = Verification.start(email=email, phone=phone)
        else:
            verification.send_again()
        transaction.on_commit(partial(_queue_code_deliveries, verification.pk))
    return verification


def _queue_code_deliveries(verification_id: UUID) -> None:
    channels = list(Channel.values)
    for index, channel in enumerate(channels):
        try:
            deliver_code.delay(str(verification_id), channel)
        except (KombuError, OSError) as error:
            log.error("could not queue the %s code of verification %s: %s", channel, verification_id, error)
            unqueued = channels[index:]
            Verification.objects.filter(pk=verification_id).update(
                **{f"{name}_status": Delivery.FAILED for name in unqueued},
                **{f"{name}_error": f"not queued: {error}" for name in unqueued},
            )
            raise UpstreamFailure("The codes could not be queued for sending; try again in a moment.") from None


CODE_MESSAGES = {
    Channel.EMAIL: "Your Facenition email code is {code}. It expires in {minutes} minutes.\n\n"
    "If you did not ask for it, ignore this message.",
    Channel.SMS: "Your Facenition SMS code is {code}. It expires in {minutes} minutes.",
}
CODE_EMAIL_SUBJECT = "Your Facenition verification code"


def verification_deliver(*, verification_id: UUID | str, channel: str, retry_at: datetime | None = None) -> None:
    """Sends one channel's code of a verification and records the outcome on it.

    Returns quietly when the row is gone or its code can no longer be used. On a provider error,
    records it and raises DeliveryFailed; the status says "retrying" only when `retry_at` falls
    before the code expires, and `DeliveryFailed.retry` tells the caller whether to.
    """
    verification = Verification.objects.filter(pk=verification_id).first()
    if verification is None:
        return
    now = timezone.now()
    if not verification.is_pending(now):
        verification.record_delivery(channel, Delivery.SKIPPED, "the code could no longer be used when its turn came")
        return
    minutes = math.ceil(verification.seconds_left(now) / 60)
    body = CODE_MESSAGES[Channel(channel)].format(code=verification.code_for(channel), minutes=minutes)
    try:
        if channel == Channel.EMAIL:
            email_send(to=verification.email, subject=CODE_EMAIL_SUBJECT, body=body)
        else:
            sms_send(to=verification.phone, body=body)
    except DeliveryFailed as failure:
        failure.retry = retry_at is not None and retry_at < verification.expires_at
        verification.record_delivery(channel, Delivery.RETRYING if failure.retry else Delivery.FAILED, str(failure))
        log.warning("%s code of verification %s not delivered: %s", channel, verification_id, failure)
        raise
    verification.record_delivery(channel, Delivery.SENT)


def verification_confirm(*, email: str, phone: str, email_code: str, sms_code: str) -> Verification:
    """Checks both codes against the pair's verification. Every wrong pair of codes counts, under a
    row lock, so parallel guesses cannot get past FACENITION_CODE_MAX_FAILURES."""
    with transaction.atomic():
        verification = verification_current(email=email, phone=phone, for_update=True)
        if verification is None:
            raise NotFound("No verification for this email and phone: ask /v2/new-credentials for codes first.")
        if verification.is_verified():
            raise Conflict("This email and phone are already verified; ask /v2/generateToken for the client token.")
        if verification.is_expired():
            raise Gone("These codes have expired: ask /v2/new-credentials for new ones.")
        if verification.is_locked():
            raise TooManyRequests("Too many wrong codes: start over with /v2/new-credentials.")
        confirmed = verification.codes_match(email_code=email_code, sms_code=sms_code)
        if confirmed:
            verification.verify()
        else:
            verification.record_failure()
    if not confirmed:
        left = verification.tries_left()
        raise Unauthorized(
            f"The codes do not match. {left} {'try remains' if left == 1 else 'tries remain'}"
            + ("." if left else "; start over with /v2/new-credentials.")
        )
    return verification


def client_token_issue_verified(*, email: str, phone: str, name: str = "", api_version: str = "2") -> IssuedToken:
    """Issues a client token to a pair that proved it owns both; the verification is then spent."""
    with transaction.atomic():
        verification = verification_current(email=email, phone=phone, for_update=True)
        if verification is None or not verification.is_verified():
            raise Forbidden(
                "This email and phone must be verified first: ask /v2/new-credentials for codes "
                "and confirm them at /v2/authenticate-credentials."
            )
        if verification.is_spent():
            raise Forbidden("This verification already issued its client token; verify the pair again for another.")
        if verification.is_expired():
            raise Forbidden("This verification expired before a token was asked for; verify the pair again.")
        client = client_create(name=name, email=email, phone=phone, verified_at=verification.verified_at)
        issued = client_token_issue(client=client, api_version=api_version)
        verification.spend(issued.token)
    return issued


def verification_expire(*, verification: Verification) -> Verification:
    verification.expire()
    return verification


@dataclass(frozen=True)
class PurgeResult:
    verifications: list[str]  # "id masked-email / masked-phone" of each verification deleted
    client_tokens: list[str]  # "prefix… name" of each client token deleted


def credentials_purge(*, now: datetime | None = None) -> PurgeResult:
    """Deletes expired verifications and expired or revoked client tokens. Clients, and with them
    their enrollments, stay: a client with no credential left gets a new one from an operator."""
    now = now or timezone.now()
    with transaction.atomic():
        verifications = {v.pk: f"{v.pk} {v}" for v in Verification.objects.filter(expires_at__lte=now)}
        tokens = {
            t.pk: str(t) for t in ClientToken.objects.filter(Q(expires_at__lte=now) | Q(revoked_at__isnull=False))
        }
        Verification.objects.filter(pk__in=verifications).delete()
        ClientToken.objects.filter(pk__in=tokens).delete()
    return PurgeResult(verifications=list(verifications.values()), client_tokens=list(tokens.values()))
