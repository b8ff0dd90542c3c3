import contextlib
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
from django.db.models import Count, Q
from django.utils import timezone
from kombu.exceptions import KombuError

from facenition.celery import app as celery_app
from facenition.errors import Conflict, Forbidden, Gone, NotFound, TooManyRequests, Unauthorized, UpstreamFailure
from facenition.ratelimits import rate_limit_check, rate_limit_count

from .delivery import DeliveryFailed, email_send, sms_send
from .models import Channel, Client, ClientToken, CodeKeyMissing, Delivery, Verification, secret_digest

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


def client_token_issue_v1(*, name: str = "", email: str = "", source: str) -> IssuedToken:
    """v1 /generateToken: a new client and its first credential, without proof, unless the operator
    turned that off (FACENITION_V1_TOKENS=false). Each client has a face budget of its own, so the
    clients one caller (`source`, its client IP) may make are limited too."""
    if not settings.FACENITION_V1_TOKENS:
        raise Forbidden("this server issues tokens to verified pairs only; use v2")
    rate = settings.FACENITION_V1_TOKEN_RATE_PER_IP
    rate_limit_count(
        group="credentials.v1-tokens",
        key=source,
        rate=rate,
        message=f"Too many new clients from your address (at most {rate}); keep the client token you have, "
        "or wait for the Retry-After time.",
    )
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
    with transaction.atomic():
        described = str(client)
        credentials = ClientToken.objects.filter(client=client).count()
        # Through the relations the other apps declare to a client: this app imports none of them.
        counts = Client.objects.filter(pk=client.pk).aggregate(
            enrollments=Count("enrollments", distinct=True),
            subjects=Count("gallery__subjects", distinct=True),
            faces=Count("gallery__subjects__faces", distinct=True),
        )
        enrollments, subjects, faces = counts["enrollments"], counts["subjects"], counts["faces"]
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


def verification_request(*, email: str, phone: str, source: str) -> Verification | None:
    """Sends the pair two one-time codes, one by email and one by SMS, through Celery once the row
    is committed. While the pair's verification is still pending, the same codes are sent again for
    a full lifetime and its failure counts stay. A verified pair whose client token was not yet
    asked for keeps its verification: nothing is sent and None is returned, so nobody can replace
    the owner's proof. Sends are limited per pair, per phone, per email address and per caller
    (`source`, its client IP): past any of them, 429."""
    limits = (
        ("pair", f"{email} {phone}", settings.FACENITION_CODE_SEND_RATE, "this email and phone"),
        ("phone", phone, settings.FACENITION_CODE_SEND_RATE_PER_RECIPIENT, "this phone number"),
        ("email", email, settings.FACENITION_CODE_SEND_RATE_PER_RECIPIENT, "this email address"),
        ("ip", source, settings.FACENITION_CODE_SEND_RATE_PER_IP, "your address"),
    )
    for counted, key, rate, whom in limits:
        rate_limit_count(
            group=f"credentials.code-sends:{counted}",
            key=key,  # django-ratelimit keeps only a hash of it
            rate=rate,
            message=f"Codes were sent to {whom} too often (at most {rate}); wait for the Retry-After time.",
        )
    with transaction.atomic():
        verification = verification_current(email=email, phone=phone, for_update=True)
        if verification is not None and verification.is_claimable():
            return None
        if verification is None or not verification.is_pending():
            verification = Verification.start(email=email, phone=phone)
        else:
            verification.send_again()
        transaction.on_commit(partial(_queue_code_deliveries, verification.pk))
    return verification


# Queued by name: the task's body (credentials.tasks) calls these services, which so never import it.
DELIVER_CODE = "credentials.tasks.deliver_code"


def _queue_code_deliveries(verification_id: UUID) -> None:
    channels = list(Channel.values)
    for index, channel in enumerate(channels):
        try:
            celery_app.tasks[DELIVER_CODE].delay(str(verification_id), channel)
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
    if getattr(verification, f"{channel}_status") == Delivery.SENT:
        return  # a copy re-queued by verification_requeue_stalled while the first was still on its way
    now = timezone.now()
    if not verification.is_pending(now):
        verification.record_delivery(channel, Delivery.SKIPPED, "the code could no longer be used when its turn came")
        return
    minutes = math.ceil(verification.seconds_left(now) / 60)
    try:
        code = verification.code_for(channel)
    except CodeKeyMissing as missing:
        # Retrying cannot help: this worker runs with other token keys than the web process.
        log.error("%s code of verification %s not sent: %s", channel, verification_id, missing)
        verification.record_delivery(channel, Delivery.FAILED, str(missing))
        return
    body = CODE_MESSAGES[Channel(channel)].format(code=code, minutes=minutes)
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


def verification_requeue_stalled(*, now: datetime | None = None) -> list[tuple[UUID, str]]:
    """Queues again each code of a pending verification still "queued" after
    FACENITION_DELIVERY_STALLED_SECONDS: its task message was lost (a broker restarted without
    persistence), since a worker takes one within seconds. Returns (verification id, channel) of each.

    A verification was (re)sent when its expiry was set, one code lifetime before it. A copy that
    arrives after the first was sent finds the channel "sent" and is dropped."""
    now = now or timezone.now()
    sent_before = now - timedelta(seconds=settings.FACENITION_DELIVERY_STALLED_SECONDS)
    stalled = Verification.objects.filter(
        verified_at__isnull=True,
        expires_at__gt=now,
        expires_at__lte=sent_before + timedelta(seconds=settings.FACENITION_CODE_LIFETIME_SECONDS),
        failed_attempts__lt=settings.FACENITION_CODE_MAX_FAILURES_TOTAL,
    ).filter(Q(email_status=Delivery.QUEUED) | Q(sms_status=Delivery.QUEUED))
    requeued = []
    for verification_id, email_status, sms_status in stalled.values_list("pk", "email_status", "sms_status"):
        for channel, status in ((Channel.EMAIL, email_status), (Channel.SMS, sms_status)):
            if status == Delivery.QUEUED:
                celery_app.tasks[DELIVER_CODE].delay(str(verification_id), channel.value)
                requeued.append((verification_id, channel.value))
    if requeued:
        log.warning("queued %d code(s) again, left queued for over a minute: %s", len(requeued), requeued)
    return requeued


CODES_REFUSED = (
    "The codes do not match a pending verification of this email and phone. Check both codes; "
    "codes expire {minutes} minutes after they are sent, and after {per_caller} wrong tries from one "
    "address ({total} in all) they stop working: then ask /v2/new-credentials for new ones."
)
PROOF_PREFIX = "fnv"


class Confirmed(NamedTuple):
    """A verification just proven, and the secret that alone can claim its client token (shown once)."""

    verification: Verification
    proof: str


def verification_confirm(*, email: str, phone: str, email_code: str, sms_code: str, source: str) -> Confirmed:
    """Checks both codes against the pair's verification and hands whoever proved them a single-use
    verification token for /v2/generateToken. Every wrong pair of codes counts under a row lock, per
    caller (`source`, its client IP) and in all, and against the caller, the phone and the email
    address across verifications. A caller without the right codes learns nothing about the pair's
    state: never asked, pending, verified and expired all answer the same 401. The right codes of a
    verified pair whose token was not yet claimed give a fresh verification token (the answer may
    have been lost) and the first stops working."""
    refused = CODES_REFUSED.format(
        minutes=math.ceil(settings.FACENITION_CODE_LIFETIME_SECONDS / 60),
        per_caller=settings.FACENITION_CODE_MAX_FAILURES,
        total=settings.FACENITION_CODE_MAX_FAILURES_TOTAL,
    )
    ip, phone_guess, email_guess = _failure_counters(email=email, phone=phone, source=source)
    for counter in (ip, phone_guess, email_guess):
        rate_limit_check(**counter)
    email_ok = sms_ok = False
    with transaction.atomic():
        verification = verification_current(email=email, phone=phone, for_update=True)
        if verification is not None:
            if verification.is_locked_for(source) and not verification.is_verified():
                raise TooManyRequests(
                    "Too many wrong codes for this email and phone: ask /v2/new-credentials for new ones."
                )
            try:
                email_ok, sms_ok = verification.codes_match(email_code=email_code, sms_code=sms_code)
            except CodeKeyMissing as missing:
                log.error("verification %s cannot be checked: %s", verification.pk, missing)
                raise UpstreamFailure(
                    "This server cannot check these codes: it no longer holds the key they were made with. "
                    "Ask /v2/new-credentials for new ones."
                ) from None
            if email_ok and sms_ok:
                # The right codes again, before the token was claimed (an answer lost on the way): a fresh
                # verification token replaces the first, which stops working.
                if verification.is_spent():
                    raise Conflict(
                        "These codes already verified the pair and its client token was issued; "
                        "ask /v2/new-credentials to verify it again."
                    )
                if verification.is_expired():
                    raise Gone("These codes have expired: ask /v2/new-credentials for new ones.")
                return Confirmed(verification=verification, proof=verification_prove(verification=verification))
            if verification.is_pending():
                verification.record_failure(source)
    # One code right and the other wrong is someone guessing at the other's owner; a stranger who
    # knows neither code counts against its own address only, so it cannot use up the owner's budget.
    counted = [ip, *([phone_guess] if email_ok else []), *([email_guess] if sms_ok else [])]
    for counter in counted:
        with contextlib.suppress(TooManyRequests):  # this one is answered 401; the next try meets the limit
            rate_limit_count(**counter)
    raise Unauthorized(refused)


def verification_prove(*, verification: Verification) -> str:
    """Marks the verification proven and returns its new verification token; only a digest is kept."""
    proof = f"{PROOF_PREFIX}_{secrets.token_urlsafe(32)}"
    verification.verify(proof_digest=secret_digest(proof))
    return proof


def _failure_counters(*, email: str, phone: str, source: str) -> list[dict[str, str]]:
    """The counters of wrong codes: per caller, and of guesses at one phone's or one email's code.
    A recipient's limit names neither, so that it says nothing about which code was right."""
    per_ip, per_recipient = (
        settings.FACENITION_CODE_FAILURE_RATE_PER_IP,
        settings.FACENITION_CODE_FAILURE_RATE_PER_RECIPIENT,
    )
    recipient = (
        f"Too many wrong codes for this email or phone (at most {per_recipient}); wait for the Retry-After time."
    )
    return [
        {"group": "credentials.code-failures:ip", "key": source, "rate": per_ip,
         "message": f"Too many wrong codes from your address (at most {per_ip}); wait for the Retry-After time."},
        {"group": "credentials.code-failures:phone", "key": phone, "rate": per_recipient, "message": recipient},
        {"group": "credentials.code-failures:email", "key": email, "rate": per_recipient, "message": recipient},
    ]  # fmt: skip


def client_token_issue_verified(
    *, email: str, phone: str, proof: str, name: str = "", api_version: str = "2"
) -> IssuedToken:
    """Issues a client token to the caller that proved the pair's codes: it presents the
    verification token /v2/authenticate-credentials gave it (`proof`), which is then spent. Anyone
    else, even with the right email and phone, gets 401 and spends nothing."""
    if not proof:
        raise Unauthorized(
            "Send the verification token that /v2/authenticate-credentials answered, as `verification_token` "
            "or in the X-Verification-Token header."
        )
    with transaction.atomic():
        verification = (
            Verification.objects.select_for_update().filter(proof_digest=secret_digest(proof)).first()
            if proof.startswith(f"{PROOF_PREFIX}_")
            else None
        )
        if verification is None or (verification.email, verification.phone) != (email, phone):
            raise Unauthorized(
                "This verification token is not valid for this email and phone: verify the pair with "
                "/v2/new-credentials and /v2/authenticate-credentials."
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
