import sys

from django.core.management.base import BaseCommand

from enrollment.services import enrollment_reseal, token_keyring
from facenition.errors import ApplicationError


class Command(BaseCommand):
    help = (
        "Re-seals identity tokens under the current FACENITION_TOKEN_KEY, without the faces. Reads one token "
        "per line on standard input and writes, per line, the token to keep from now on (the old text stops "
        "working) or `error: ...`; counts on standard error."
    )

    def handle(self, *args, **options):
        current = token_keyring().current.key_id.hex()
        moved = kept = failed = 0
        for line in sys.stdin:
            token = line.strip()
            if not token:
                continue
            try:
                enrollment, raw = enrollment_reseal(token=token)
            except ApplicationError as refused:
                self.stdout.write(f"error: {refused.message}")
                failed += 1
                continue
            self.stdout.write(raw)
            if raw == token:
                kept += 1
            else:
                moved += 1
        self.stderr.write(f"{moved} token(s) re-sealed under key {current}, {kept} already under it, {failed} refused.")
