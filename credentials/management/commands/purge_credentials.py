from django.core.management.base import BaseCommand

from credentials.services import credentials_purge


class Command(BaseCommand):
    help = "Deletes expired verifications and expired or revoked client tokens, and says what it deleted."

    def handle(self, *args, **options):
        result = credentials_purge()
        for line in result.verifications:
            self.stdout.write(f"verification {line}")
        for line in result.client_tokens:
            self.stdout.write(f"client token {line}")
        self.stdout.write(
            f"Deleted {len(result.verifications)} expired verification(s) "
            f"and {len(result.client_tokens)} expired or revoked client token(s)."
        )
