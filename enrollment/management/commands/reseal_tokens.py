import sys

from django.core.management.base import BaseCommand
from django.db import transaction

from enrollment.services import enrollment_reseal
from facenition.errors import ApplicationError
from facenition.keyring import token_keyring


class Command(BaseCommand):
    help = (
        "Re-seals identity tokens under the current FACENITION_TOKEN_KEY, without the faces. Reads one token "
        "per line on standard input and writes, per line, the token to keep from now on (the old text stops "
        "working) or `error: ...`; counts on standard error. Safe to run again over the same tokens: a token "
        "re-sealed before prints the same new token."
    )

    def handle(self, *args, **options):
        current = token_keyring().current.key_id.hex()
        moved = kept = failed = 0
        for line in sys.stdin:
            token = line.strip()
            if not token:
                continue
            try:
                # The new token is written out before its digest commits: output that cannot be
                # written undoes the move, and the old text keeps working.
                with transaction.atomic():
                    enrollment, raw = enrollment_reseal(token=token)
                    self.stdout.write(raw)
                    self.stdout.flush()
            except ApplicationError as refused:
                self.stdout.write(f"error: {refused.message}")
                failed += 1
                continue
            if raw == token:
                kept += 1
            else:
                moved += 1
        self.stderr.write(f"{moved} token(s) re-sealed under key {current}, {kept} already under it, {failed} refused.")
