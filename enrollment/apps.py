from pathlib import Path

from django.apps import AppConfig
from django.conf import settings


class EnrollmentConfig(AppConfig):
    name = "enrollment"
    verbose_name = "Enrollments"

    def ready(self) -> None:
        from .protection import code

        # Beside the model weights: built once per machine, loaded by every later process.
        code.use_cache_dir(Path(settings.DEEPFACE_HOME) / ".deepface" / "cache")
