from django.db import migrations


def token_to_client(apps, schema_editor):
    Enrollment = apps.get_model("enrollment", "Enrollment")
    ClientToken = apps.get_model("credentials", "ClientToken")
    clients = dict(ClientToken.objects.values_list("pk", "client_id"))
    for enrollment in Enrollment.objects.filter(owner__isnull=True).only("pk", "client_id"):
        Enrollment.objects.filter(pk=enrollment.pk).update(owner_id=clients[enrollment.client_id])


def client_to_token(apps, schema_editor):
    """Back to one token per enrollment: the newest credential of its client."""
    Enrollment = apps.get_model("enrollment", "Enrollment")
    ClientToken = apps.get_model("credentials", "ClientToken")
    newest = {}
    for token in ClientToken.objects.order_by("created_at", "pk"):
        newest[token.client_id] = token.pk
    for enrollment in Enrollment.objects.only("pk", "owner_id"):
        Enrollment.objects.filter(pk=enrollment.pk).update(client_id=newest[enrollment.owner_id])


class Migration(migrations.Migration):
    dependencies = [
        ("enrollment", "0002_enrollment_owner"),
    ]

    operations = [
        migrations.RunPython(token_to_client, client_to_token),
    ]
