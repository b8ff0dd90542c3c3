from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("enrollment", "0004_enrollment_client"),
    ]

    operations = [
        migrations.AddField(
            model_name="enrollment",
            name="key_id",
            field=models.CharField(blank=True, max_length=8),
        ),
    ]
