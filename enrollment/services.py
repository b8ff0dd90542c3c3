"""/generate, /authenticate, /revoke and /rotate: identity tokens over protected face templates.

Faces are read through matching.services; the protection scheme (enrollment.protection) knows
nothing of Django. The only row kept per enrollment holds bookkeeping and a digest of the token.
"""

import hmac
import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from credentials.models import secret_digest
from facenition.errors import BadRequest, Forbidden, Gone, NotFound, TooManyRequests
from matching.accuracy import DEFAULT_ACCURACY, MATCH_THRESHOLDS, MIN_ACCURACY
from matching.services import cosine_distance, faces_read, mean_embedding

from .models import Enrollment
from .protection import (
    SCHEME_VERSION,
    IdentityToken,
    MalformedToken,
    accepts,
    commit,
    keyring_from,
    open_commitment,
    token_decode,
    token_encode,
    token_reseal,
)


@dataclass(frozen=True)
class Authentication:
    enrollment: Enrollment
    authenticated: bool


def token_keyring():
    """The token keys the settings name: FACENITION_TOKEN_KEY and FACENITION_RETIRED_TOKEN_KEYS."""
    return keyring_from(settings.FACENITION_TOKEN_KEY, settings.FACENITION_RETIRED_TOKEN_KEYS)


def _lifetime(expires_in):
    longest = settings.FACENITION_IDENTITY_TOKEN_MAX_SECONDS
    if expires_in is None:
        return timedelta(seconds=min(settings.FACENITION_IDENTITY_TOKEN_SECONDS, longest))
    if expires_in > longest:
        raise BadRequest(f"expires_in: at most {longest} seconds is allowed.")
    return timedelta(seconds=expires_in)


def _disagreement(readings):
    """Why the photos do not show one person, naming the photo that disagrees with the most others, or
    None when every pair is within /match's most tolerant level. A mean of several people's faces is
    no one's face, and can come closer to a stranger's template than any of them."""
    threshold = MATCH_THRESHOLDS[MIN_ACCURACY]
    apart = {reading.label: [] for reading in readings}
    for first, second in itertools.combinations(readings, 2):
        if cosine_distance(first.face.embedding, second.face.embedding) > threshold:
            apart[first.label].append(second.label)
            apart[second.label].append(first.label)
    worst = max(reversed(readings), key=lambda reading: len(apart[reading.label]))
    if not apart[worst.label]:
        return None
    return (
        f"{worst.label} does not show the same person as {', '.join(apart[worst.label])}; "
        "send photos of one person only."
    )


def _require_one_person(readings):
    problem = _disagreement(readings)
    if problem:
        raise BadRequest(problem)


def _enrollment_issue(*, client, embedding, accuracy, subject, lifetime, rotated_from=None):
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
        commitment=commit(embedding=embedding, enrollment_id=enrollment_id.bytes, key=key),
    )
    raw = token_encode(token, key=key)
    enrollment = Enrollment.objects.create(
        id=enrollment_id,
        client=client,
        subject=subject,
        accuracy=accuracy,
        scheme_version=SCHEME_VERSION,
        key_id=key.key_id.hex(),
        token_digest=secret_digest(raw),
        created_at=now,
        expires_at=expires_at,
        rotated_from=rotated_from,
    )
    return enrollment, raw


def enrollment_generate(*, client, images, accuracy=DEFAULT_ACCURACY, subject="", expires_in=None):
    """Enrolls the one person shown in `images`; returns (enrollment, identity token)."""
    lifetime = _lifetime(expires_in)
    readings = faces_read(images=images, exactly_one=True)
    _require_one_person(readings)
    return _enrollment_issue(
        client=client, embedding=mean_embedding(readings), accuracy=accuracy, subject=subject, lifetime=lifetime
    )


def _token_parse(raw):
    try:
        return token_decode(raw, keyring=token_keyring())
    except MalformedToken as problem:
        raise BadRequest(f"token: not a valid identity token ({problem}).") from None


def _require_usable(enrollment, now=None):
    if enrollment.is_revoked():
        raise Gone(f"This identity token was revoked at {enrollment.revoked_at.isoformat()}.")
    if enrollment.is_expired(now):
        raise Gone(f"This identity token expired at {enrollment.expires_at.isoformat()}.")


def _enrollment_for_token(*, client, raw):
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


def _require_attempt_allowed(enrollment, now=None):
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


def _require_accuracy(enrollment, accuracy):
    if accuracy is not None and accuracy != enrollment.accuracy:
        raise BadRequest(
            f"accuracy: this token was generated with accuracy {enrollment.accuracy}; "
            f"send accuracy={enrollment.accuracy} (or generate a new token at accuracy {accuracy})."
        )


def _face_unlocks(token, readings, accuracy):
    """Tries the mean of the live photos' largest faces against the token."""
    errors = open_commitment(
        token.commitment,
        embedding=mean_embedding(readings),
        enrollment_id=token.enrollment_id.bytes,
        key=token.key,
        version=token.version,
    )
    return accepts(errors, accuracy)


def _attempt(*, client, raw, images, accuracy, on_success=None):
    """One counted attempt at unlocking a token. The checks before the pipeline only spare it work;
    the row lock makes check-and-count atomic, so concurrent attempts cannot overrun the lockout.
    Live photos that do not show one person are a failed attempt, answered with a 400 that names
    the photo that disagrees."""
    token, enrollment = _enrollment_for_token(client=client, raw=raw)
    _require_usable(enrollment)
    _require_accuracy(enrollment, accuracy)
    _require_attempt_allowed(enrollment)
    readings = faces_read(images=images)
    disagreement = _disagreement(readings)
    authenticated = disagreement is None and _face_unlocks(token, readings, enrollment.accuracy)
    with transaction.atomic():
        enrollment = Enrollment.objects.select_for_update().get(pk=enrollment.pk)
        _require_usable(enrollment)
        _require_attempt_allowed(enrollment)
        enrollment.record_attempt(authenticated)
        outcome = on_success(enrollment, readings) if authenticated and on_success else None
    if disagreement:
        raise BadRequest(f"{disagreement} The attempt counts as a failed one.")
    return enrollment, authenticated, outcome


def enrollment_authenticate(*, client, token, images, accuracy):
    enrollment, authenticated, _ = _attempt(client=client, raw=token, images=images, accuracy=accuracy)
    return Authentication(enrollment=enrollment, authenticated=authenticated)


def enrollment_rotate(*, client, token, images, accuracy=None, expires_in=None):
    """If the live face unlocks `token`, issues a fresh token (new seed, new key) committed to the
    live photos and revokes the old one, in one transaction. Returns (new enrollment, new token)."""
    lifetime = _lifetime(expires_in)

    def reissue(old, readings):
        issued = _enrollment_issue(
            client=client,
            embedding=mean_embedding(readings),
            accuracy=old.accuracy,
            subject=old.subject,
            lifetime=lifetime,
            rotated_from=old,
        )
        old.revoke()
        return issued

    _, authenticated, issued = _attempt(client=client, raw=token, images=images, accuracy=accuracy, on_success=reissue)
    if not authenticated:
        raise Forbidden("The face does not match this identity token; nothing was rotated.")
    return issued


def enrollment_revoke(*, client, token="", enrollment_id=None):
    """Revokes by token or by id; revoking twice is harmless. 404 unknown id, 403 another client's."""
    if token:
        _, enrollment = _enrollment_for_token(client=client, raw=token)
    elif enrollment_id is not None:
        enrollment = Enrollment.objects.filter(pk=enrollment_id).first()
        if enrollment is None:
            raise NotFound("No enrollment with this id.")
        if enrollment.client_id != client.pk:
            raise Forbidden("This enrollment belongs to another client.")
    else:
        raise BadRequest("Send the identity token as `token` or its enrollment's `id`.")
    enrollment.revoke()
    return enrollment


def enrollment_reseal(*, token):
    """Re-seals an identity token under the current token key, without the face: same enrollment,
    same commitment, new key id. The row then holds the new token's digest, so the old text stops
    working. Returns (enrollment, new token). A token already under the current key comes back as is."""
    parsed = _token_parse(token)
    with transaction.atomic():
        enrollment = Enrollment.objects.select_for_update().filter(pk=parsed.enrollment_id).first()
        if enrollment is None:
            raise NotFound("No enrollment for this identity token (it was purged or deleted with its client).")
        if not hmac.compare_digest(enrollment.token_digest, secret_digest(token)):
            raise BadRequest("token: not a valid identity token (it does not match its enrollment).")
        _require_usable(enrollment)
        key = token_keyring().current
        if parsed.key_id == key.key_id:
            return enrollment, token
        try:
            _, raw = token_reseal(parsed, key=key)
        except MalformedToken as problem:
            raise BadRequest(f"token: {problem}.") from None
        enrollment.token_digest = secret_digest(raw)
        enrollment.key_id = key.key_id.hex()
        enrollment.scheme_version = SCHEME_VERSION
        enrollment.save(update_fields=["token_digest", "key_id", "scheme_version"])
    return enrollment, raw


def enrollment_purge_expired(*, now=None):
    """Deletes the rows of expired enrollments; returns how many."""
    deleted, _ = Enrollment.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted
