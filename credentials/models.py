import hashlib
import hmac
import math
import secrets
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from facenition.keyring import ONE_TIME_CODES, token_keyring


class CodeKeyMissing(Exception):
    """A verification's codes were derived under a token key this process does not hold."""

    def __init__(self, key_id):
        super().__init__(
            f"this verification's codes come from token key {key_id}, which this process does not hold: "
            "give the web process and the worker the same FACENITION_TOKEN_KEY, and list replaced keys in "
            "FACENITION_RETIRED_TOKEN_KEYS"
        )
        self.key_id = key_id


def secret_digest(raw):
    """How issued secrets are stored. Client tokens carry 256 random bits and identity tokens a MAC
    under a server key, so nobody can guess one from its digest and a plain SHA-256 is a safe
    one-way store."""
    return hashlib.sha256(raw.encode()).hexdigest()


def mask_email(email):
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if email else ""


def mask_phone(phone):
    return f"{phone[:2]}{'*' * max(len(phone) - 6, 0)}{phone[-4:]}" if phone else ""


class Client(models.Model):
    """An application (an account). It owns its enrollments and holds credentials (client tokens)
    that are renewed, rotated and revoked without touching them. Only deleting the client itself,
    which an operator does explicitly, removes its enrollments."""

    name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=20, blank=True)
    # When the client proved it owns its email and phone (v2 onboarding); None for a v1 client.
    verified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"client {self.pk} {self.name}".strip()

    def is_verified(self):
        return self.verified_at is not None

    def masked_email(self):
        return mask_email(self.email)

    def masked_phone(self):
        return mask_phone(self.phone)


class ClientToken(models.Model):
    """One credential of a client. Only a digest of the secret is kept; the prefix finds the row."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="credentials")
    prefix = models.CharField(max_length=16, unique=True)
    digest = models.CharField(max_length=64)
    # The API version that issued the client's first credential; a rotated credential keeps it.
    api_version = models.CharField(max_length=4, default="1")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    rotated_from = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="rotated_to"
    )

    # Lets a token stand as DRF's request.user.
    is_authenticated = True

    class Meta:
        ordering = ["-created_at"]
        # Minting a credential hands its secret to whoever runs it; no default role grants it, so
        # only superusers and those given it by name can, unlike revoking (change_clienttoken).
        permissions = [("issue_client_token", "Can issue and rotate client tokens, seeing the new one in clear")]

    def __str__(self):
        return f"{self.prefix}… {self.client.name}".strip()

    def matches(self, raw):
        return hmac.compare_digest(self.digest, secret_digest(raw))

    def is_expired(self, now=None):
        return (now or timezone.now()) >= self.expires_at

    def is_revoked(self):
        return self.revoked_at is not None

    def is_active(self, now=None):
        return not self.is_revoked() and not self.is_expired(now)

    def revoke(self, now=None):
        if self.revoked_at is None:
            self.revoked_at = now or timezone.now()
            self.save(update_fields=["revoked_at"])


class Channel(models.TextChoices):
    EMAIL = "email", "email"
    SMS = "sms", "SMS"


class Delivery(models.TextChoices):
    QUEUED = "queued", "queued"
    RETRYING = "retrying", "failed, retrying"
    SENT = "sent", "sent"
    FAILED = "failed", "failed"
    SKIPPED = "skipped", "not sent, no longer needed"


class Verification(models.Model):
    """Proof, under way, that a caller owns an email address and a phone number.

    The codes are not stored. Each is derived from `code_seed` and the channel by an HMAC under the
    one-time-code sub-key of FACENITION_TOKEN_KEY: a worker can (re)send a code from the row's id
    alone, and the database without the key says nothing about either code.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField()
    phone = models.CharField(max_length=16)
    code_seed = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    sends = models.PositiveSmallIntegerField(default=1)
    failed_attempts = models.PositiveSmallIntegerField(default=0)
    verified_at = models.DateTimeField(null=True, blank=True)
    spent_at = models.DateTimeField(null=True, blank=True)
    client_token = models.OneToOneField(
        ClientToken, null=True, blank=True, on_delete=models.SET_NULL, related_name="verification"
    )
    # Which token key derives the codes (hex key id): the web process and the worker must both hold it.
    key_id = models.CharField(max_length=16, blank=True)
    # Wrong tries per caller (a digest of its address → count), so one caller cannot use up the owner's.
    failures_by_source = models.JSONField(default=dict, blank=True)
    # Digest of the verification token handed to whoever proved the codes; /v2/generateToken needs it.
    proof_digest = models.CharField(max_length=64, blank=True, db_index=True)
    email_status = models.CharField(max_length=10, choices=Delivery.choices, default=Delivery.QUEUED)
    email_error = models.TextField(blank=True)
    email_sent_at = models.DateTimeField(null=True, blank=True)
    sms_status = models.CharField(max_length=10, choices=Delivery.choices, default=Delivery.QUEUED)
    sms_error = models.TextField(blank=True)
    sms_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["email", "phone", "-created_at"])]

    def __str__(self):
        return f"{self.masked_email()} / {self.masked_phone()}"

    @classmethod
    def start(cls, *, email, phone, now=None):
        now = now or timezone.now()
        return cls.objects.create(
            email=email,
            phone=phone,
            code_seed=secrets.token_hex(16),
            key_id=token_keyring().current.key_id.hex(),
            created_at=now,
            expires_at=now + timedelta(seconds=settings.FACENITION_CODE_LIFETIME_SECONDS),
        )

    def masked_email(self):
        return mask_email(self.email)

    def masked_phone(self):
        return mask_phone(self.phone)

    def code_for(self, channel):
        """The six-digit code for one channel, leading zeros kept. Raises CodeKeyMissing when this
        process does not hold the token key the verification was started under."""
        keyring = token_keyring()
        key = keyring.find(bytes.fromhex(self.key_id)) if self.key_id else keyring.current
        if key is None:
            raise CodeKeyMissing(self.key_id)
        mac = hmac.new(
            key.subkey(ONE_TIME_CODES), f"verification-code:{self.code_seed}:{channel}".encode(), hashlib.sha256
        )
        return f"{int.from_bytes(mac.digest(), 'big') % 1_000_000:06d}"

    def codes_match(self, *, email_code, sms_code):
        """(email code right, SMS code right). Both comparisons always run, so the time taken tells
        nothing about which code was wrong."""
        email_ok = hmac.compare_digest(self.code_for(Channel.EMAIL), email_code)
        sms_ok = hmac.compare_digest(self.code_for(Channel.SMS), sms_code)
        return email_ok, sms_ok

    def seconds_left(self, now=None):
        return max(0, math.ceil((self.expires_at - (now or timezone.now())).total_seconds()))

    def is_expired(self, now=None):
        return (now or timezone.now()) >= self.expires_at

    def is_verified(self):
        return self.verified_at is not None

    def is_spent(self):
        return self.spent_at is not None

    def _source_key(self, source):
        # The caller's address is kept only as a digest salted with this row's id.
        return hashlib.sha256(f"{self.pk}|{source}".encode()).hexdigest()[:16]

    def failures_from(self, source):
        return self.failures_by_source.get(self._source_key(source), 0)

    def is_locked(self):
        """Locked for everyone: too many wrong tries from all callers together."""
        return self.failed_attempts >= settings.FACENITION_CODE_MAX_FAILURES_TOTAL

    def is_locked_for(self, source):
        """Locked for one caller: too many wrong tries from its address, whoever else may still try."""
        return self.is_locked() or self.failures_from(source) >= settings.FACENITION_CODE_MAX_FAILURES

    def is_pending(self, now=None):
        """Still waiting for its codes, which may still be tried."""
        return not self.is_verified() and not self.is_expired(now) and not self.is_locked()

    def is_claimable(self, now=None):
        """Verified, its client token not yet asked for, and still in time to ask."""
        return self.is_verified() and not self.is_spent() and not self.is_expired(now)

    def send_again(self, now=None):
        """The same codes go out once more, for a full lifetime from now; the failure counts stay."""
        self.sends += 1
        self.expires_at = (now or timezone.now()) + timedelta(seconds=settings.FACENITION_CODE_LIFETIME_SECONDS)
        self.email_status = self.sms_status = Delivery.QUEUED
        self.email_error = self.sms_error = ""
        self.save(update_fields=["sends", "expires_at", "email_status", "email_error", "sms_status", "sms_error"])

    def record_failure(self, source):
        self.failed_attempts += 1
        key = self._source_key(source)
        self.failures_by_source = {**self.failures_by_source, key: self.failures_by_source.get(key, 0) + 1}
        self.save(update_fields=["failed_attempts", "failures_by_source"])

    def verify(self, *, proof_digest, now=None):
        """Marks the pair proven and records the digest of the secret handed to its prover, which
        alone can then ask for the client token, within a fresh lifetime."""
        now = now or timezone.now()
        self.verified_at = now
        self.proof_digest = proof_digest
        self.expires_at = now + timedelta(seconds=settings.FACENITION_CODE_LIFETIME_SECONDS)
        self.save(update_fields=["verified_at", "proof_digest", "expires_at"])

    def spend(self, token, now=None):
        self.client_token = token
        self.spent_at = now or timezone.now()
        self.save(update_fields=["client_token", "spent_at"])

    def expire(self, now=None):
        now = now or timezone.now()
        if self.expires_at > now:
            self.expires_at = now
            self.save(update_fields=["expires_at"])

    def record_delivery(self, channel, status, error="", now=None):
        fields = {f"{channel}_status": status, f"{channel}_error": error}
        if status == Delivery.SENT:
            fields[f"{channel}_sent_at"] = now or timezone.now()
        for name, value in fields.items():
            setattr(self, name, value)
        self.save(update_fields=list(fields))
