from django.core.management.base import BaseCommand
from django.db.models import Count
from django.utils import timezone

from enrollment.models import Enrollment
from facenition.keyring import token_keyring


class Command(BaseCommand):
    help = (
        "Lists the token keys (by key id, never the key) and how many live identity tokens each seals: "
        "a retired key may be removed once it seals none."
    )

    def handle(self, *args, **options):
        keyring = token_keyring()
        live = Enrollment.objects.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())
        counts = dict(live.values_list("key_id").annotate(n=Count("pk")))
        for role, key in [("current", keyring.current), *[("retired", key) for key in keyring.retired]]:
            self.stdout.write(f"{role} {key.key_id.hex()}: {counts.pop(key.key_id.hex(), 0)} live token(s)")
        for key_id, count in counts.items():
            self.stdout.write(f"{'fit1 (no key id)' if not key_id else f'unknown {key_id}'}: {count} live token(s)")
