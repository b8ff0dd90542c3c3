"""/generate, /authenticate, /revoke and /rotate: identity tokens over protected face templates.

Faces are read through matching.reading; the protection scheme (enrollment.protection) knows
nothing of Django. The only row kept per enrollment holds bookkeeping and a digest of the token.
"""

import hmac
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from credentials.models import Client, secret_digest
from facenition.errors import BadRequest, Conflict, Forbidden, Gone, NotFound, TooManyRequests
from facenition.keyring import TokenKey, token_keyring
from matching.accuracy import DEFAULT_ACCURACY
from matching.reading import (
    Embedding,
    FaceReading,
    Readable,
    faces_read,
    mean_embedding,
    photos_disagree,
)

from .models import Enrollment
from .protection import (
    SCHEME_VERSION,
    EnrollmentId,
    IdentityToken,
    MalformedToken,
    UnknownKey,
    accepts,
    commit,
    open_commitment,
    token_decode,
    token_encode,
    token_reseal,
)
from .protection.binarisation import DEPLOYED


@dataclass(frozen=True)
class Authentication:
    enrollment: Enrollment
    authenticated: bool


class IssuedEnrollment(NamedTuple):
    """An enrollment just made, and its identity token: handed to the caller, never stored."""

    enrollment: Enrollment
    token: str


@dataclass(frozen=True)
class Attempt:
    """One counted attempt at unlocking a token, and what `on_success` made of it when it did."""

    enrollment: Enrollment
    authenticated: bool
    outcome: Any = None


def _lifetime(expires_in: int | None) -> timedelta:
    longest = settings.FACENITION_IDENTITY_TOKEN_MAX_SECONDS
    if expires_in is None:
        return timedelta(seconds=min(settings.FACENITION_IDENTITY_TOKEN_SECONDS, longest))
    if expires_in > longest:
        raise BadRequest(f"expires_in: at most {longest} seconds is allowed.")
    return timedelta(seconds=expires_in)


def _disagreement(readings: Sequence[FaceReading], model: str) -> str | None:
    problem = photos_disagree(readings, model=model)
    return f"{problem}; send photos of one person only." if problem else None


def _require_one_person(readings: Sequence[FaceReading], model: str) -> None:
    problem = _disagreement(readings, model)
    if problem:
        raise BadRequest(problem)


def _enrollment_issue(
    *,
    client: Client,
    embedding: Embedding,
    model_name: str,
    accuracy: int,
    subject: str,
    lifetime: timedelta,
    rotated_from: Enrollment | None = None,
) -> IssuedEnrollment:
    # Whole seconds, so that the row and the token state the same times.
    now = timezone.now().replace(microsecond=0)
    expires_at = now + lifetime
    enrollment_id = uuid.uuid4()
    key = token_keyring().current
    token = IdentityToken(
        enrollment_id=enrollment_id,
        accuracy=accuracy,
        issued_at=int(now.timestamp()),
        expires_at=int(expires_at.timestamp()),
        commitment=commit(
            embedding=embedding, enrollment_id=enrollment_id.bytes, key=key, population=DEPLOYED[model_name]
        ),
    )
    raw = token_encode(token, key=key)
    enrollment = Enrollment.objects.create(
        id=enrollment_id,
        client=client,
        subject=subject,
        accuracy=accuracy,
        scheme_version=SCHEME_VERSION,
        model_name=model_name,
        key_id=key.key_id.hex(),
        token_digest=secret_digest(raw),
        created_at=now,
        expires_at=expires_at,
        rotated_from=rotated_from,
    )
    return IssuedEnrollment(enrollment=enrollment, token=raw)


def enrollment_generate(
    *,
    client: Client,
    images: Sequence[Readable],
    accuracy: int = DEFAULT_ACCURACY,
    subject: str = "",
    expires_in: int | None = None,
) -> IssuedEnrollment:
    """Enrolls the one person shown in `images`."""
    lifetime = _lifetime(expires_in)
    model = settings.FACENITION_MODEL
    readings = faces_read(images=images, exactly_one=True, model_name=model)
    _require_one_person(readings, model)
    return _enrollment_issue(
        client=client,
        embedding=mean_embedding(readings),
        model_name=model,
        accuracy=accuracy,
        subject=subject,
        lifetime=lifetime,
    )


def _token_parse(raw: str) -> IdentityToken:
    try:
        return token_decode(raw, keyring=token_keyring())
    except UnknownKey as unknown:
        # Without the key the signature cannot be checked; but a token this server issued is still
        # recorded, by its digest, on the enrollment it names. Only such a token hears that its key
        # is missing (a 400 would tell the client to throw it away); an altered one is not valid.
        issued = Enrollment.objects.filter(pk=unknown.enrollment_id, key_id=unknown.key_id.hex()).first()
        if issued is None or not hmac.compare_digest(issued.token_digest, secret_digest(raw)):
            raise BadRequest("token: not a valid identity token (the signature does not match).") from None
        raise Conflict(
            f"token: this server cannot open this identity token: it was sealed under token key "
            f"{unknown.key_id.hex()}, which this server no longer holds. Keep the token and ask the operator "
            "to put that key back in FACENITION_RETIRED_TOKEN_KEYS."
        ) from None
    except MalformedToken as problem:
        raise BadRequest(f"token: not a valid identity token ({problem}).") from None


def _require_usable(enrollment: Enrollment, now: datetime | None = None) -> None:
    if enrollment.revoked_at is not None:
        raise Gone(f"This identity token was revoked at {enrollment.revoked_at.isoformat()}.")
    if enrollment.is_expired(now):
        raise Gone(f"This identity token expired at {enrollment.expires_at.isoformat()}.")


def _enrollment_for_token(*, client: Client, raw: str) -> tuple[IdentityToken, Enrollment]:
    """The enrollment a presented token belongs to, checked: 400 malformed or tampered, 410 gone,
    403 issued to another client."""
    token = _token_parse(raw)
    enrollment = Enrollment.objects.filter(pk=token.enrollment_id).first()
    if enrollment is None:
        # The MAC proves this server issued it, so its row was deleted: purged after it expired, or
        # deleted with its client.
        expired = datetime.fromtimestamp(token.expires_at, tz=UTC)
        if expired <= timezone.now():
            raise Gone(f"This identity token expired at {expired.isoformat()} and its record was purged.")
        raise Gone("This identity token is no longer valid: its client was deleted, and its enrollments with it.")
    if not hmac.compare_digest(enrollment.token_digest, secret_digest(raw)):
        raise BadRequest("token: not a valid identity token (it does not match its enrollment).")
    if enrollment.client_id != client.pk:
        raise Forbidden("This identity token was issued to another client.")
    return token, enrollment


def _require_attempt_allowed(enrollment: Enrollment, now: datetime | None = None) -> None:
    if enrollment.is_locked():
        raise Forbidden(
            f"This identity token is locked after {settings.FACENITION_AUTH_LOCK_FAILURES} failed attempts; "
            "enroll the person again with /generate."
        )
    wait = enrollment.cooldown_remaining(now)
    if wait > 0:
        raise TooManyRequests(
            f"Too many failed attempts on this identity token; try again in {int(wait) + 1} seconds.",
            retry_after=int(wait) + 1,
        )


def _require_accuracy(enrollment: Enrollment, accuracy: int | None) -> None:
    if accuracy is not None and accuracy != enrollment.accuracy:
        raise BadRequest(
            f"accuracy: this token was generated with accuracy {enrollment.accuracy}; "
            f"send accuracy={enrollment.accuracy} (or generate a new token at accuracy {accuracy})."
        )


def _face_unlocks(token: IdentityToken, readings: Sequence[FaceReading], accuracy: int, model: str) -> bool:
    """Tries the mean of the live photos' largest faces, read by the token's face model, against the token."""
    errors = open_commitment(
        token.commitment,
        embedding=mean_embedding(readings),
        enrollment_id=token.enrollment_id.bytes,
        key=token.sealing_key,
        version=token.version,
        population=DEPLOYED[model],
    )
    return accepts(errors, accuracy, model)


def _attempt(
    *,
    client: Client,
    raw: str,
    images: Sequence[Readable],
    accuracy: int | None,
    on_success: Callable[[Enrollment, Sequence[FaceReading]], Any] | None = None,
    success_model: str | None = None,
) -> Attempt:
    """One counted attempt at unlocking a token. The checks before the pipeline only spare it work;
    the row lock makes check-and-count atomic, so concurrent attempts cannot overrun the lockout.
    Live photos that do not show one person are a failed attempt, answered with a 400 that names
    the photo that disagrees. The live photos are read by the token's own face model; `on_success`
    gets them read by `success_model` (default: the token's), read again only when it differs."""
    token, enrollment = _enrollment_for_token(client=client, raw=raw)
    _require_usable(enrollment)
    _require_accuracy(enrollment, accuracy)
    _require_attempt_allowed(enrollment)
    model = enrollment.model_name
    readings = faces_read(images=images, model_name=model)
    disagreement = _disagreement(readings, model)
    authenticated = disagreement is None and _face_unlocks(token, readings, enrollment.accuracy, model)
    if authenticated and on_success and success_model not in (None, model):
        # Read before the row is locked: the other model's pass must not hold the lock.
        readings = faces_read(images=images, model_name=success_model)
    with transaction.atomic():
        enrollment = Enrollment.objects.select_for_update().get(pk=enrollment.pk)
        _require_usable(enrollment)
        _require_attempt_allowed(enrollment)
        enrollment.record_attempt(authenticated)
        outcome = on_success(enrollment, readings) if authenticated and on_success else None
    if disagreement:
        raise BadRequest(f"{disagreement} The attempt counts as a failed one.")
    return Attempt(enrollment=enrollment, authenticated=authenticated, outcome=outcome)


def enrollment_authenticate(
    *, client: Client, token: str, images: Sequence[Readable], accuracy: int | None
) -> Authentication:
    attempt = _attempt(client=client, raw=token, images=images, accuracy=accuracy)
    return Authentication(enrollment=attempt.enrollment, authenticated=attempt.authenticated)


def enrollment_rotate(
    *,
    client: Client,
    token: str,
    images: Sequence[Readable],
    accuracy: int | None = None,
    expires_in: int | None = None,
) -> IssuedEnrollment:
    """If the live face unlocks `token`, issues a fresh token (new seed, new key) committed to the
    live photos and revokes the old one, in one transaction. The new token is made with the server's
    face model (FACENITION_MODEL): rotating is how a token made with an older model moves to it."""
    lifetime = _lifetime(expires_in)

    def reissue(old: Enrollment, readings: Sequence[FaceReading]) -> IssuedEnrollment:
        issued = _enrollment_issue(
            client=client,
            embedding=mean_embedding(readings),
            model_name=settings.FACENITION_MODEL,
            accuracy=old.accuracy,
            subject=old.subject,
            lifetime=lifetime,
            rotated_from=old,
        )
        old.revoke()
        return issued

    attempt = _attempt(
        client=client,
        raw=token,
        images=images,
        accuracy=accuracy,
        on_success=reissue,
        success_model=settings.FACENITION_MODEL,
    )
    if not attempt.authenticated:
        raise Forbidden("The face does not match this identity token; nothing was rotated.")
    issued: IssuedEnrollment = attempt.outcome
    return issued


def enrollment_revoke(*, client: Client, token: str = "", enrollment_id: EnrollmentId | None = None) -> Enrollment:
    """Revokes by token or by id; revoking twice is harmless. An id that is unknown or another client's
    is 404 alike: ids travel in clear inside tokens, and a client may not learn whether another
    client's enrollment still exists."""
    if token:
        _, enrollment = _enrollment_for_token(client=client, raw=token)
    elif enrollment_id is not None:
        found = Enrollment.objects.filter(pk=enrollment_id, client=client).first()
        if found is None:
            raise NotFound("No enrollment with this id.")
        enrollment = found
    else:
        raise BadRequest("Send the identity token as `token` or its enrollment's `id`.")
    enrollment.revoke()
    return enrollment


def enrollment_reseal(*, token: str) -> IssuedEnrollment:
    """Re-seals an identity token under the current token key, without the face: same enrollment,
    same commitment, new key id. The row then holds the new token's digest, so the old text stops
    working. A token already under the current key comes back as is.

    Re-sealing is deterministic (same seed, streams and signature derived from the keys), so an old
    text re-sealed before comes back as the very token its row now holds: an operator who lost the
    first run's output runs it again and loses no token."""
    parsed = _token_parse(token)
    key = token_keyring().current
    with transaction.atomic():
        enrollment = Enrollment.objects.select_for_update().filter(pk=parsed.enrollment_id).first()
        if enrollment is None:
            raise NotFound("No enrollment for this identity token (it was purged or deleted with its client).")
        if not hmac.compare_digest(enrollment.token_digest, secret_digest(token)):
            raw = _token_resealed(parsed, key=key) if parsed.version == SCHEME_VERSION else ""
            if not raw or not hmac.compare_digest(enrollment.token_digest, secret_digest(raw)):
                raise BadRequest("token: not a valid identity token (it does not match its enrollment).")
            _require_usable(enrollment)
            return IssuedEnrollment(enrollment=enrollment, token=raw)
        _require_usable(enrollment)
        if parsed.key_id == key.key_id:
            return IssuedEnrollment(enrollment=enrollment, token=token)
        raw = _token_resealed(parsed, key=key)
        enrollment.token_digest = secret_digest(raw)
        enrollment.key_id = key.key_id.hex()
        enrollment.scheme_version = SCHEME_VERSION
        enrollment.save(update_fields=["token_digest", "key_id", "scheme_version"])
    return IssuedEnrollment(enrollment=enrollment, token=raw)


def _token_resealed(token: IdentityToken, *, key: TokenKey) -> str:
    try:
        _, raw = token_reseal(token, key=key)
    except MalformedToken as problem:
        raise BadRequest(f"token: {problem}.") from None
    return raw


def enrollment_purge_expired(*, now: datetime | None = None) -> int:
    """Deletes the rows of expired enrollments; returns how many."""
    deleted, _ = Enrollment.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted
