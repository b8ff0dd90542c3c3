"""What every admin page of this project shares."""

from collections.abc import Callable, Iterable
from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest


class ReadOnlyModelAdmin(admin.ModelAdmin):
    """A page for rows the system derives: every field shown is read-only, nothing is added by hand,
    and the page has no Save button and no delete (Django's generic delete would bypass the services).

    Changes go through the page's actions, which call the same services as the API and write an
    entry to Django's admin log for each row they change."""

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
