from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("matching", "0005_face_model"),
    ]

    operations = [
        migrations.AddField(
            model_name="gallery",
            name="stamps",
            field=models.TextField(blank=True, default=""),
        ),
    ]
