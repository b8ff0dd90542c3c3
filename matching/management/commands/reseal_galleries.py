from django.core.management.base import BaseCommand

from matching.galleries import gallery_reseal


class Command(BaseCommand):
    help = "Wraps every gallery subject key again under the current token key (after a key rotation)."

    def handle(self, *args, **options):
        result = gallery_reseal()
        self.stdout.write(f"re-wrapped {result.resealed} gallery subject key(s) under the current token key")
        if result.unopenable:
            self.stderr.write(
                f"{result.unopenable} subject key(s) do not open: wrapped under a key the server no longer has (add "
                "it back to FACENITION_RETIRED_TOKEN_KEYS) or altered in the database (restore or forget them)."
            )
