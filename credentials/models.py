import hashlib
import hmac

from django.db import models
from django.utils import timezone


def secret_digest(raw):
    """Client tokens carry 256 random bits, so a plain SHA-256 is a safe one-way store."""
    return hashlib.sha256(raw.encode()).hexdigest()


class ClientToken(models.Model):
    """A client's API credential. Only a digest of the secret is kept; the prefix finds the row."""

    prefix = models.CharField(max_length=16, unique=True)
    digest = models.CharField(max_length=64)
    name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=20, blank=True)
    api_version = models.CharField(max_length=4, default="1")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    # Lets a token stand as DRF's request.user.
    is_authenticated = True

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.prefix}… {self.name}".strip()

    def matches(self, raw):
        return hmac.compare_digest(self.digest, secret_digest(raw))

    def is_expired(self, now=None):
        return (now or timezone.now()) >= self.expires_at

    def is_revoked(self):
        return self.revoked_at is not None

    def is_active(self, now=None):
        return not self.is_revoked() and not self.is_expired(now)

    def revoke(self):
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])
