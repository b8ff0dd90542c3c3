from django.apps import AppConfig


class MatchingConfig(AppConfig):
    name = "matching"
    verbose_name = "Face matching"

    def ready(self):
        from . import checks  # noqa: F401  registers the start-up checks
