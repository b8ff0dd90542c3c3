import time

import numpy as np
from django.core.management.base import BaseCommand, CommandError

from matching.reading import WeightsMissing, face_pipeline, weights_dir


class Command(BaseCommand):
    # Runs before the weights exist, which one of the start-up checks is about.
    requires_system_checks = []
    help = "Loads the face models as the server would and reports what it found."

    def handle(self, *args, **options):
        pipeline = face_pipeline()
        config = pipeline.config
        self.stdout.write(
            f"model {config.model_name}, detector {config.detector_name}, weights in {weights_dir(config.deepface_home)}"
        )
        started = time.perf_counter()
        try:
            pipeline.load()
        except WeightsMissing as error:
            raise CommandError(str(error)) from None
        loaded = time.perf_counter() - started
        blank = np.full((240, 320, 3), 127, dtype=np.uint8)
        faces = pipeline.analyse(blank).faces
        self.stdout.write(
            f"loaded in {loaded:.2f} s; a blank test image gave {len(faces)} face(s), as it should give 0"
        )
        self.stdout.write(self.style.SUCCESS("models OK"))
