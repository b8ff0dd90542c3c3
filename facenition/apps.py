from django.apps import AppConfig


class FacenitionConfig(AppConfig):
    """The project itself, as an app: it registers the start-up checks of the project-wide settings."""

    name = "facenition"
    verbose_name = "Facenition"

    def ready(self) -> None:
        from . import checks  # noqa: F401  registers the start-up checks
