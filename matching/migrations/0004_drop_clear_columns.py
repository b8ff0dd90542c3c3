from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("matching", "0003_seal_under_subject_keys"),
    ]

    operations = [
        migrations.RemoveField(
            model_name="face",
            name="key_id",
        ),
        migrations.RemoveField(
            model_name="subject",
            name="metadata",
        ),
    ]
