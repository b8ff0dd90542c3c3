from django.contrib import admin, messages

from .models import ClientToken
from .services import client_token_revoke


@admin.register(ClientToken)
class ClientTokenAdmin(admin.ModelAdmin):
    list_display = ("prefix", "name", "email", "phone", "api_version", "created_at", "expires_at", "revoked_at", "last_used_at")
    list_filter = ("api_version", "created_at", "expires_at", "revoked_at")
    search_fields = ("prefix", "name", "email", "phone")
    # The digest is deliberately absent: the admin never shows anything derived from the secret.
    fields = ("prefix", "name", "email", "phone", "api_version", "created_at", "expires_at", "revoked_at", "last_used_at")
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
