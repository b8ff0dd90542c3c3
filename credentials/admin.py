from django.contrib import admin, messages

from .models import ClientToken, Verification
from .services import client_token_revoke, verification_expire


@admin.register(ClientToken)
class ClientTokenAdmin(admin.ModelAdmin):
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
    readonly_fields = fields
    actions = ["revoke_tokens"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Revoke selected client tokens")
    def revoke_tokens(self, request, queryset):
        count = 0
        for token in queryset.filter(revoked_at__isnull=True):
            client_token_revoke(token=token)
            count += 1
        self.message_user(request, f"Revoked {count} client token(s).", messages.SUCCESS)


@admin.register(Verification)
class VerificationAdmin(admin.ModelAdmin):
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
    readonly_fields = fields
    actions = ["expire_verifications"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Expire selected verifications")
    def expire_verifications(self, request, queryset):
        count = 0
        for verification in queryset:
            verification_expire(verification=verification)
            count += 1
        self.message_user(request, f"Expired {count} verification(s).", messages.SUCCESS)
