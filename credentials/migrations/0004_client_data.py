from django.db import migrations


def tokens_to_clients(apps, schema_editor):
    """Every existing client token was an account of its own: each becomes a client with the token's
    name, email, phone and creation time, and stays that client's credential. A v2 token was only
    ever issued to a verified pair, so its client is verified as of its verification (kept or not)."""
    Client = apps.get_model("credentials", "Client")
    ClientToken = apps.get_model("credentials", "ClientToken")
    Verification = apps.get_model("credentials", "Verification")
    verified = dict(
        Verification.objects.filter(client_token__isnull=False).values_list("client_token_id", "verified_at")
    )
    for token in ClientToken.objects.filter(client__isnull=True).order_by("pk"):
        verified_at = verified.get(token.pk) or (token.created_at if token.api_version == "2" else None)
        client = Client.objects.create(
            name=token.name, email=token.email, phone=token.phone, created_at=token.created_at, verified_at=verified_at
        )
        ClientToken.objects.filter(pk=token.pk).update(client=client)


def clients_to_tokens(apps, schema_editor):
    ClientToken = apps.get_model("credentials", "ClientToken")
    for token in ClientToken.objects.select_related("client"):
        ClientToken.objects.filter(pk=token.pk).update(
            name=token.client.name, email=token.client.email, phone=token.client.phone
        )


class Migration(migrations.Migration):
    dependencies = [
        ("credentials", "0003_client"),
    ]

    operations = [
        migrations.RunPython(tokens_to_clients, clients_to_tokens),
    ]
