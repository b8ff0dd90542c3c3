from django.apps import AppConfig
from django.db.models.signals import post_delete


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
        # A gallery goes only with its client (credentials.services.client_delete, which imports no
        # other app): its snapshots on this host go once that commits.
        post_delete.connect(_gallery_deleted, sender="matching.Gallery", dispatch_uid="gallery-snapshots")


def _gallery_deleted(sender, instance, **kwargs):
    from django.db import transaction

    from .gallery_index import gallery_snapshots_deleted

    gallery_id = instance.pk
    transaction.on_commit(lambda: gallery_snapshots_deleted(gallery_id))
