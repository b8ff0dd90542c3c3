import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone


class Enrollment(models.Model):
    """One identity token's server-side state. Nothing derived from the face is kept here: the
    commitment travels only inside the token, and the row holds a digest of the token."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Deleted only with its client, which an operator does explicitly (credentials.services.client_delete).
    client = models.ForeignKey("credentials.Client", on_delete=models.CASCADE, related_name="enrollments")
    subject = models.CharField(max_length=200, blank=True)
    accuracy = models.PositiveSmallIntegerField()
    scheme_version = models.PositiveSmallIntegerField()
    # The face model the token's commitment was made from: its live photos are read by that model.
    # Tokens from before the model was recorded were made with Dlib.
    model_name = models.CharField(max_length=40, default="Dlib")
    # Which token key sealed the token (hex; facenition.keyring), so an operator can tell when no
    # token needs a retired key any more. Empty for a fit1 token, sealed before key ids.
    key_id = models.CharField(max_length=8, blank=True)
    token_digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    rotated_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    consecutive_failures = models.PositiveIntegerField(default=0)
    total_failures = models.PositiveIntegerField(default=0)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    locked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["expires_at"])]

    def __str__(self):
        return f"{self.id} {self.subject}".strip()

    def is_expired(self, now=None):
        return (now or timezone.now()) >= self.expires_at

    def is_revoked(self):
        return self.revoked_at is not None

    def is_locked(self):
        return self.locked_at is not None

    def cooldown_remaining(self, now=None):
        """Seconds until another attempt is allowed after a run of failures; 0 if allowed now."""
        if self.consecutive_failures < settings.FACENITION_AUTH_COOLDOWN_FAILURES or self.last_failure_at is None:
            return 0
        until = self.last_failure_at + timedelta(seconds=settings.FACENITION_AUTH_COOLDOWN_SECONDS)
        return max(0.0, (until - (now or timezone.now())).total_seconds())

    def record_attempt(self, authenticated, now=None):
        """Counts one attempt. Call it on a row locked with select_for_update."""
        now = now or timezone.now()
        if authenticated:
            self.consecutive_failures = 0
            self.last_success_at = now
        else:
            self.consecutive_failures += 1
            self.total_failures += 1
            self.last_failure_at = now
            if self.consecutive_failures >= settings.FACENITION_AUTH_LOCK_FAILURES:
                self.locked_at = now
        self.save(
            update_fields=["consecutive_failures", "total_failures", "last_failure_at", "last_success_at", "locked_at"]
        )

    def revoke(self, now=None):
        if self.revoked_at is None:
            self.revoked_at = now or timezone.now()
            self.save(update_fields=["revoked_at"])
