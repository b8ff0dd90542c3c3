from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from credentials.models import Client
from credentials.services import client_token_issue


class Command(BaseCommand):
    help = (
        "Issues a client token and prints it once; only its digest is stored. With --client, the token is "
        "a new credential of that client, which keeps its enrollments; without, it makes a new client."
    )

    def add_arguments(self, parser):
        parser.add_argument("--client", type=int, default=None, help="id of an existing client (see the admin)")
        parser.add_argument("--name", default="", help="who the new client is")
        parser.add_argument("--email", default="")
        parser.add_argument("--days", type=int, default=None, help="lifetime in days (default: the setting)")

    def handle(self, *args, client, name, email, days, **options):
        lifetime = timedelta(days=days) if days else None
        owner = None
        if client is not None:
            owner = Client.objects.filter(pk=client).first()
            if owner is None:
                raise CommandError(f"No client with id {client}.")
        issued = client_token_issue(client=owner, name=name, email=email, lifetime=lifetime)
        self.stdout.write(issued.raw)
        self.stderr.write(
            f"{issued.token.client}: expires {issued.token.expires_at.isoformat()}; this is the only time it is shown"
        )
