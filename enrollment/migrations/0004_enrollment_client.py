import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("enrollment", "0003_enrollment_owner_data"),
    ]

    operations = [
        migrations.RemoveField(model_name="enrollment", name="client"),
        migrations.RenameField(model_name="enrollment", old_name="owner", new_name="client"),
        migrations.AlterField(
            model_name="enrollment",
            name="client",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="enrollments", to="credentials.client"
            ),
        ),
    ]
