from pathlib import Path

from django.apps import AppConfig
from django.conf import settings


class EnrollmentConfig(AppConfig):
    name = "enrollment"
    verbose_name = "Enrollments"

    def ready(self) -> None:
        from facenition.startup import register_warm_up

        from . import checks  # noqa: F401  registers the start-up checks
        from .protection import code, warm_up

        register_warm_up("identity-token error-correcting code built", warm_up)

        # Beside the model weights: built once per machine, loaded by every later process.
        code.use_cache_dir(Path(settings.DEEPFACE_HOME) / ".deepface" / "cache")
