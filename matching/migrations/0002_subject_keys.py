import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("matching", "0001_galleries"),
    ]

    operations = [
        migrations.CreateModel(
            name="SubjectKey",
            fields=[
                (
                    "subject",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="key",
                        serialize=False,
                        to="matching.subject",
                    ),
                ),
                ("wrapped_key", models.BinaryField()),
                ("key_id", models.CharField(max_length=16)),
            ],
        ),
        migrations.AddField(
            model_name="subject",
            name="sealed_metadata",
            field=models.BinaryField(default=b""),
        ),
    ]
