import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("credentials", "0004_client_data"),
    ]

    operations = [
        migrations.AlterField(
            model_name="clienttoken",
            name="client",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="credentials", to="credentials.client"
            ),
        ),
        migrations.RemoveField(model_name="clienttoken", name="name"),
        migrations.RemoveField(model_name="clienttoken", name="email"),
        migrations.RemoveField(model_name="clienttoken", name="phone"),
    ]
