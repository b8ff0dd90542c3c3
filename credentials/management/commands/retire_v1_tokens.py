from django.conf import settings
from django.core.management.base import BaseCommand

from credentials.services import client_tokens_retire_v1


class Command(BaseCommand):
    help = (
        "Revokes every active v1 client token (issued by /generateToken without proof of an email or phone, "
        "or by issue_token): FACENITION_V1_TOKENS=false stops new ones, this retires the ones out there. "
        "With --dry-run, only counts them."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="count, revoke nothing")

    def handle(self, *args, dry_run, **options):
        if settings.FACENITION_V1_TOKENS:
            self.stderr.write("FACENITION_V1_TOKENS is still true: /generateToken keeps issuing new v1 tokens.")
        result = client_tokens_retire_v1(dry_run=dry_run)
        done = "Would revoke" if dry_run else "Revoked"
        self.stdout.write(f"{done} {result.tokens} active v1 client token(s) of {result.clients} client(s).")
