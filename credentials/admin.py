from django.contrib import admin

from facenition.admin import ReadOnlyModelAdmin

from .models import ClientToken, Verification
from .services import client_token_revoke, verification_expire


@admin.register(ClientToken)
class ClientTokenAdmin(ReadOnlyModelAdmin):
    list_display = (
        "prefix",
        "name",
        "email",
        "phone",
        "api_version",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    )
    list_filter = ("api_version", "created_at", "expires_at", "revoked_at")
    search_fields = ("prefix", "name", "email", "phone")
    # The digest is deliberately absent: the admin never shows anything derived from the secret.
    fields = (
        "prefix",
        "name",
        "email",
        "phone",
        "api_version",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    )
    actions = ["revoke_tokens"]

    @admin.action(description="Revoke selected client tokens")
    def revoke_tokens(self, request, queryset):
        self.act_on_each(
            request,
            queryset.filter(revoked_at__isnull=True),
            lambda token: client_token_revoke(token=token),
            "Revoked {count} client token(s).",
        )


@admin.register(Verification)
class VerificationAdmin(ReadOnlyModelAdmin):
    list_display = (
        "id",
        "masked_email",
        "masked_phone",
        "created_at",
        "expires_at",
        "failed_attempts",
        "email_status",
        "sms_status",
        "verified_at",
        "spent_at",
    )
    list_filter = (
        "email_status",
        "sms_status",
        "created_at",
        "expires_at",
        ("verified_at", admin.EmptyFieldListFilter),
        ("spent_at", admin.EmptyFieldListFilter),
    )
    # Searching takes the full address or number; the pages only ever show them masked.
    search_fields = ("=email", "=phone")
    # The code seed is deliberately absent: with the server's key it gives both codes.
    fields = (
        "id",
        "masked_email",
        "masked_phone",
        "created_at",
        "expires_at",
        "sends",
        "failed_attempts",
        "email_status",
        "email_error",
        "email_sent_at",
        "sms_status",
        "sms_error",
        "sms_sent_at",
        "verified_at",
        "spent_at",
        "client_token",
    )
    actions = ["expire_verifications"]

    @admin.action(description="Expire selected verifications")
    def expire_verifications(self, request, queryset):
        self.act_on_each(
            request,
            queryset,
            lambda verification: verification_expire(verification=verification),
            "Expired {count} verification(s).",
        )
