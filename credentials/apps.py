from django.apps import AppConfig


class CredentialsConfig(AppConfig):
    name = "credentials"
    verbose_name = "Client credentials"

    def ready(self):
        from facenition.health import register_advisory

        from . import (
            checks,  # noqa: F401  registers the start-up checks
            tasks,  # noqa: F401  registers the tasks the services queue by name
        )
        from .worker_keys import worker_keys_readiness

        register_advisory("worker_token_keys", worker_keys_readiness)
