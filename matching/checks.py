"""Start-up checks of the face pipeline: a server whose model weights are missing refuses to start."""

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register

from .pipeline import missing_weights


@register()
def model_weights_present(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    # Only the Dlib model works offline; another deepface model downloads its weights on first use.
    if settings.FACENITION_MODEL != "Dlib":
        return []
    missing = missing_weights(settings.FACENITION_MODEL, settings.FACENITION_DETECTOR, settings.DEEPFACE_HOME)
    if not missing:
        return []
    return [
        Error(
            f"Model weights missing: {', '.join(missing)}.",
            hint="Run `make setup` (or `.venv/bin/python manage.py place_weights`).",
            id="facenition.E010",
        )
    ]


@register()
def gallery_index_available(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    if settings.FACENITION_GALLERY_INDEX != "ivf":
        return []
    try:
        import faiss  # noqa: F401
    except ImportError:
        return [
            Error(
                "FACENITION_GALLERY_INDEX is 'ivf' but faiss-cpu is not installed.",
                hint="pip install -r requirements.txt (faiss-cpu), or set FACENITION_GALLERY_INDEX=exact.",
                id="facenition.E031",
            )
        ]
    return []
