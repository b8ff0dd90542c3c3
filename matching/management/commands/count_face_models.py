from django.conf import settings
from django.core.management.base import BaseCommand

from matching.galleries import face_models_count


class Command(BaseCommand):
    help = (
        "Counts the usable identity tokens, galleries and gallery faces on each face model: those on a model "
        "other than FACENITION_MODEL are read by their own until rotated, enrolled again or forgotten."
    )

    def handle(self, *args, **options):
        for count in face_models_count():
            current = " (FACENITION_MODEL)" if count.model_name == settings.FACENITION_MODEL else ""
            self.stdout.write(
                f"{count.model_name}{current}: {count.tokens} identity token(s), "
                f"{count.gallery_faces} gallery face(s) in {count.galleries} gallery(ies)"
            )
