from datetime import timedelta

from django.core.management.base import BaseCommand

from credentials.services import client_token_issue


class Command(BaseCommand):
    help = "Issues a client token and prints it once; only its digest is stored."

    def add_arguments(self, parser):
        parser.add_argument("--name", default="", help="who the token is for")
        parser.add_argument("--email", default="")
        parser.add_argument("--days", type=int, default=None, help="lifetime in days (default: the setting)")

    def handle(self, *args, name, email, days, **options):
        lifetime = timedelta(days=days) if days else None
        token, raw = client_token_issue(name=name, email=email, lifetime=lifetime)
        self.stdout.write(raw)
        self.stderr.write(f"expires {token.expires_at.isoformat()}; this is the only time it is shown")
