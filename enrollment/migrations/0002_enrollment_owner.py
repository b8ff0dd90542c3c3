import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    """Enrollments move from the client token that made them to its client (0003 copies, 0004 swaps)."""

    dependencies = [
        ("credentials", "0005_client_required"),
        ("enrollment", "0001_initial"),
    ]

    operations = [
        # Nullable first, so that each step can be undone with the rows in place.
        migrations.AlterField(
            model_name="enrollment",
            name="client",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="enrollments",
                to="credentials.clienttoken",
            ),
        ),
        migrations.AddField(
            model_name="enrollment",
            name="owner",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.CASCADE, related_name="+", to="credentials.client"
            ),
        ),
    ]
