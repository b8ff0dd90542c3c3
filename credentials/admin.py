from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers

from facenition.admin import ReadOnlyModelAdmin, guarded_action
from facenition.errors import ApplicationError

from .models import Client, ClientToken, Verification
from .services import (
    IssuedToken,
    client_delete,
    client_token_issue,
    client_token_revoke,
    client_token_rotate,
    verification_expire,
)


def show_issued_tokens(model_admin, request, issued: list[IssuedToken]):
    """A page listing the client tokens just issued, or None (back to the list) when there are none.
    Not a message: Django keeps those in a cookie or the session until they are displayed."""
    if not issued:
        return None
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "New client tokens",
        "opts": model_admin.opts,
        "issued_tokens": issued,
    }
    response = TemplateResponse(request, "admin/credentials/issued_tokens.html", context)
    add_never_cache_headers(response)
    return response


class CredentialInline(admin.TabularInline):
    model = ClientToken
    fields = ("prefix", "api_version", "created_at", "expires_at", "revoked_at", "last_used_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Client)
class ClientAdmin(ReadOnlyModelAdmin):
    list_display = ("id", "name", "masked_email", "masked_phone", "verified_at", "created_at")
    list_filter = (("verified_at", admin.EmptyFieldListFilter), "created_at")
    search_fields = ("name", "=email", "=phone")
    search_help_text = (
        "Matches part of the name, or the full email address or full phone number (E.164) exactly; "
        "the pages only ever show them masked."
    )
    fields = ("id", "name", "masked_email", "masked_phone", "verified_at", "created_at", "enrollment_count")
    inlines = [CredentialInline]
    actions = ["issue_tokens", "delete_clients"]

    @admin.display(description="enrollments")
    def enrollment_count(self, client):
        return client.enrollments.count()

    def has_issue_permission(self, request):
        return request.user.has_perm("credentials.issue_client_token")

    def has_delete_clients_permission(self, request):
        return request.user.has_perm("credentials.delete_client")

    @guarded_action(permission="issue", description="Issue a new client token (shown once)")
    def issue_tokens(self, request, queryset):
        issued = []
        for client in queryset:
            issued.append(client_token_issue(client=client))
            self.log_change(request, client, f"Issued client token {issued[-1].token.prefix}…")
        return show_issued_tokens(self, request, issued)

    @guarded_action(
        permission="delete_clients",
        description="Delete selected clients, their client tokens, their enrollments and their gallery",
    )
    def delete_clients(self, request, queryset):
        for client in queryset:
            self.log_deletions(request, Client.objects.filter(pk=client.pk))
            deleted = client_delete(client=client)
            self.message_user(
                request,
                f"Deleted {deleted.client} with {deleted.credentials} client token(s), "
                f"{deleted.enrollments} enrollment(s) and {deleted.gallery_subjects} gallery subject(s) of "
                f"{deleted.gallery_faces} face(s); their identity tokens now answer 410.",
                messages.WARNING,
            )


@admin.register(ClientToken)
class ClientTokenAdmin(ReadOnlyModelAdmin):
    list_display = (
        "prefix",
        "client",
        "api_version",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    )
    list_filter = ("api_version", "created_at", "expires_at", "revoked_at")
    search_fields = ("prefix", "client__name", "=client__email", "=client__phone")
    search_help_text = "Matches the prefix or part of the client's name, or its full email or phone exactly."
    # The digest is deliberately absent: the admin never shows anything derived from the secret.
    fields = (*list_display, "rotated_from")
    actions = ["revoke_tokens", "rotate_tokens"]

    def has_revoke_permission(self, request):
        return request.user.has_perm("credentials.change_clienttoken")

    def has_rotate_permission(self, request):
        # A rotation mints a token and revokes one.
        return request.user.has_perms(["credentials.issue_client_token", "credentials.change_clienttoken"])

    @guarded_action(
        permission="revoke", description="Revoke selected client tokens (their clients keep their enrollments)"
    )
    def revoke_tokens(self, request, queryset):
        self.act_on_each(
            request,
            queryset.filter(revoked_at__isnull=True),
            lambda token: client_token_revoke(token=token),
            "Revoked {count} client token(s).",
            "Revoked",
        )

    @guarded_action(
        permission="rotate", description="Rotate selected client tokens: a new one for the same client (shown once)"
    )
    def rotate_tokens(self, request, queryset):
        issued = []
        for token in queryset:
            try:
                issued.append(client_token_rotate(token=token))
            except ApplicationError as refused:
                self.message_user(request, f"{token}: {refused.message}", messages.ERROR)
                continue
            self.log_change(request, token, f"Rotated: replaced by {issued[-1].token.prefix}…")
        return show_issued_tokens(self, request, issued)


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
    search_fields = ("=email", "=phone")
    search_help_text = (
        "Matches the full email address or the full phone number (E.164, like +14155552671) exactly, "
        "nothing partial; the pages only ever show them masked."
    )
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
        "key_id",
        "client_token",
    )
    actions = ["expire_verifications"]

    def has_expire_permission(self, request):
        return request.user.has_perm("credentials.change_verification")

    @guarded_action(permission="expire", description="Expire selected verifications")
    def expire_verifications(self, request, queryset):
        self.act_on_each(
            request,
            queryset,
            lambda verification: verification_expire(verification=verification),
            "Expired {count} verification(s).",
            "Expired",
        )
