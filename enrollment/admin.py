from django.contrib import admin
from django.utils import timezone

from facenition.admin import ReadOnlyModelAdmin, guarded_action

from .models import Enrollment
from .services import enrollment_revoke


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("revoked", "Revoked"), ("expired", "Expired"), ("locked", "Locked")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True, locked_at__isnull=True, expires_at__gt=now)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        if self.value() == "expired":
            return queryset.filter(expires_at__lte=now)
        if self.value() == "locked":
            return queryset.filter(locked_at__isnull=False)
        return queryset


@admin.register(Enrollment)
class EnrollmentAdmin(ReadOnlyModelAdmin):
    list_display = (
        "id",
        "subject",
        "client",
        "accuracy",
        "created_at",
        "expires_at",
        "revoked_at",
        "key_id",
        "consecutive_failures",
        "locked_at",
    )
    list_filter = (StateFilter, "client", "accuracy", "key_id", "created_at")
    search_fields = ("=id", "subject", "client__name", "client__credentials__prefix")
    search_help_text = (
        "Matches the full enrollment id exactly, or part of the subject, of the client's name or of a "
        "client token's prefix."
    )
    # The token digest is deliberately absent.
    fields = (
        "id",
        "client",
        "subject",
        "accuracy",
        "scheme_version",
        "key_id",
        "created_at",
        "expires_at",
        "revoked_at",
        "rotated_from",
        "consecutive_failures",
        "total_failures",
        "last_failure_at",
        "last_success_at",
        "locked_at",
    )
    actions = ["revoke_enrollments"]

    def has_revoke_permission(self, request):
        return request.user.has_perm("enrollment.change_enrollment")

    @guarded_action(permission="revoke", description="Revoke selected enrollments")
    def revoke_enrollments(self, request, queryset):
        self.act_on_each(
            request,
            queryset.filter(revoked_at__isnull=True).select_related("client"),
            lambda enrollment: enrollment_revoke(client=enrollment.client, enrollment_id=enrollment.pk),
            "Revoked {count} enrollment(s).",
            "Revoked",
        )
