from django.core.management.base import BaseCommand

from enrollment.services import enrollment_purge_expired


class Command(BaseCommand):
    help = "Deletes the rows of expired identity tokens (their tokens answer 410 either way); beat runs it hourly."

    def handle(self, *args, **options):
        self.stdout.write(f"purged {enrollment_purge_expired()} expired enrollment(s)")
