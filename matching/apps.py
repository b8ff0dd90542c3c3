from django.apps import AppConfig


class MatchingConfig(AppConfig):
    name = "matching"
    verbose_name = "Face matching"

    def ready(self):
        from django.conf import settings

        from facenition.startup import register_warm_up

        from . import checks  # noqa: F401  registers the start-up checks
        from .reading import face_pipeline

        register_warm_up(
            "face models loaded and run once",
            lambda: face_pipeline().warm_up().add_readers(settings.FACENITION_PHOTO_THREADS),
        )
