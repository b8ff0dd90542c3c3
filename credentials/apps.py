from django.apps import AppConfig


class CredentialsConfig(AppConfig):
    name = "credentials"
    verbose_name = "Client credentials"

    def ready(self):
        from . import checks  # noqa: F401  registers the start-up checks
