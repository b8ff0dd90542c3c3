"""What every admin page of this project shares."""

import functools
from collections.abc import Callable, Iterable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.exceptions import DisallowedModelAdminLookup
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from facenition.api.ratelimits import client_ip


def sign_in_address(request: HttpRequest) -> str | None:
    """The address django-axes counts failed admin sign-ins against: the one the API's rate limits
    count (REMOTE_ADDR, or behind FACENITION_TRUSTED_PROXIES proxies the one they saw), so that a
    forged X-Forwarded-For neither escapes the count nor puts it on someone else."""
    address = client_ip(request)
    return None if address == "unknown" else address


def guarded_action(*, permission: str, description: str) -> Callable[[Callable[..., Any]], Any]:
    """Django's `admin.action` for an action that changes something: Django offers and runs it only for
    a user whose ModelAdmin `has_<permission>_permission(request)` answers True, and the action asks
    again before it does anything, so that a way in that bypasses Django's filter (an override of
    `get_actions`, a call from code) is refused all the same."""

    def decorate(function: Callable[..., Any]) -> Any:
        @functools.wraps(function)
        def checked(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: Any) -> Any:
            if not getattr(modeladmin, f"has_{permission}_permission")(request):
                raise PermissionDenied
            return function(modeladmin, request, queryset)

        return admin.action(description=description, permissions=[permission])(checked)

    return decorate


class DeclaredFiltersOnly(ChangeList):
    """A list page that narrows only through its declared `list_filter`. Django lets the query string
    filter on any of the model's own fields (`?email__startswith=a`), and whether a row stays on the
    page would give away, one character at a time, what the page masks or never shows: an email, a
    phone number, a digest. What a declared filter does not take is refused, before any query runs."""

    def get_filters(self, request: HttpRequest) -> Any:
        filters = super().get_filters(request)
        undeclared = filters[2]  # the parameters no declared filter took
        if undeclared:
            raise DisallowedModelAdminLookup(f"Filtering by {', '.join(undeclared)} not allowed")
        return filters


class ReadOnlyModelAdmin(admin.ModelAdmin):
    """A page for rows the system derives: every field shown is read-only, nothing is added by hand,
    and the page has no Save button and no delete (Django's generic delete would bypass the services).

    Changes go through the page's actions, which call the same services as the API and write an
    entry to Django's admin log for each row they change. Each action is a `guarded_action` whose
    `has_<permission>_permission` consults the user's real Django permissions: the change and delete
    permissions below answer False for everyone, because they drive the edit form, not the actions."""

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return DeclaredFiltersOnly

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.fields or ()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def act_on_each(
        self,
        request: HttpRequest,
        rows: Iterable[Any],
        action: Callable[[Any], object],
        done: str,
        logged: str,
    ) -> None:
        """Runs `action` (a service call) on each row, writes `logged` to the admin log for it, and tells
        the operator how many: `done` takes {count}."""
        count = 0
        for row in rows:
            action(row)
            self.log_change(request, row, logged)
            count += 1
        self.message_user(request, done.format(count=count), messages.SUCCESS)
