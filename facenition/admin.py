"""What every admin page of this project shares."""

from collections.abc import Callable, Iterable
from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest


class ReadOnlyModelAdmin(admin.ModelAdmin):
    """A page for rows the system derives: every field shown is read-only and nothing is added by hand.

    Changes go through the page's actions, which call the same services as the API."""

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.fields or ()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def act_on_each(
        self, request: HttpRequest, rows: Iterable[Any], action: Callable[[Any], object], done: str
    ) -> None:
        """Runs `action` (a service call) on each row and tells the operator how many: `done` takes {count}."""
        count = 0
        for row in rows:
            action(row)
            count += 1
        self.message_user(request, done.format(count=count), messages.SUCCESS)
