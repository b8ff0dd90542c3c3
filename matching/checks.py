"""Start-up checks of the face pipeline: a server whose model weights are missing, or whose face settings are
not ones the pipeline knows, refuses to start; gallery subjects whose keys the server cannot open."""

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register
from django.core.checks import Warning as CheckWarning
from django.db import DatabaseError

from facenition.checks import KEY_BACK_HINT, SERVING, count_missing_keys

from .models import SubjectKey
from .reading import ALIGN_ON, DESCRIPTORS, OWN_MODELS, missing_weights


def _calibrated_models() -> list[str]:
    from enrollment.protection import ERRORS_ALLOWED

    from .accuracy import MATCH_THRESHOLDS

    return [model for model in OWN_MODELS if model in MATCH_THRESHOLDS and model in ERRORS_ALLOWED]


@register()
def model_weights_present(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    # Every model's weights: identity tokens and galleries made with a model other than
    # FACENITION_MODEL are still read by their own.
    missing = sorted(
        {name for model in OWN_MODELS for name in missing_weights(model, "dlib", settings.DEEPFACE_HOME)}
        | set(missing_weights(settings.FACENITION_MODEL, settings.FACENITION_DETECTOR, settings.DEEPFACE_HOME))
    )
    if not missing:
        return []
    return [
        Error(
            f"Model weights missing: {', '.join(missing)}.",
            hint="Run `make setup` (or `.venv/bin/python manage.py place_weights`).",
            id="matching.E001",
        )
    ]


@register()
def face_settings_valid(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    problems: list[CheckMessage] = []
    calibrated_models = _calibrated_models()
    if settings.FACENITION_MODEL not in calibrated_models:
        problems.append(
            Error(
                f"FACENITION_MODEL is {settings.FACENITION_MODEL!r}; it must be one of {', '.join(calibrated_models)}, "
                "the face models the accuracy levels and identity tokens are calibrated for.",
                id="matching.E006",
            )
        )
    if settings.FACENITION_MODEL == "SFace" and (
        settings.FACENITION_DETECTOR,
        settings.FACENITION_DESCRIPTOR,
        settings.FACENITION_DESCRIPTOR_JITTERS,
    ) != ("dlib", "plain", 0):
        problems.append(
            Error(
                "FACENITION_MODEL=SFace is aligned on dlib's landmarks and runs once per face: "
                "FACENITION_DETECTOR must be 'dlib', FACENITION_DESCRIPTOR 'plain' and "
                "FACENITION_DESCRIPTOR_JITTERS 0.",
                id="matching.E007",
            )
        )
    if settings.FACENITION_DESCRIPTOR not in DESCRIPTORS:
        problems.append(
            Error(
                f"FACENITION_DESCRIPTOR is {settings.FACENITION_DESCRIPTOR!r}; it must be one of {', '.join(DESCRIPTORS)}.",
                id="matching.E002",
            )
        )
    if settings.FACENITION_ALIGN_ON not in ALIGN_ON:
        problems.append(
            Error(
                f"FACENITION_ALIGN_ON is {settings.FACENITION_ALIGN_ON!r}; it must be one of {', '.join(ALIGN_ON)}.",
                id="matching.E003",
            )
        )
    if not 0 <= settings.FACENITION_DESCRIPTOR_JITTERS <= 100:
        problems.append(
            Error(
                f"FACENITION_DESCRIPTOR_JITTERS is {settings.FACENITION_DESCRIPTOR_JITTERS}; it must be 0 to 100.",
                id="matching.E004",
            )
        )
    for name in ("FACENITION_MIN_FACE_SIZE", "FACENITION_MIN_FACE_SHARPNESS"):
        if getattr(settings, name) < 0:
            problems.append(Error(f"{name} is negative; 0 turns the check off.", id="matching.E005"))
    calibrated = ("plain", 0, "photo")
    configured = (settings.FACENITION_DESCRIPTOR, settings.FACENITION_DESCRIPTOR_JITTERS, settings.FACENITION_ALIGN_ON)
    if not problems and configured != calibrated:
        problems.append(
            CheckWarning(
                "FACENITION_DESCRIPTOR, FACENITION_DESCRIPTOR_JITTERS or FACENITION_ALIGN_ON differ from the "
                "defaults the accuracy levels were calibrated for.",
                hint="Run `python manage.py calibrate_match` and `calibrate_enrollment` with the same options and "
                "put their fits in matching/accuracy.py and enrollment/protection/; identity tokens issued "
                "under another descriptor stop authenticating.",
                id="matching.W002",
            )
        )
    scheduled = settings.FACENITION_MODEL in OWN_MODELS and settings.FACENITION_DETECTOR == "dlib"
    if not scheduled and settings.FACENITION_DETECT_SCHEDULE != "cheap-first":
        problems.append(
            CheckWarning(
                f"FACENITION_DETECT_SCHEDULE={settings.FACENITION_DETECT_SCHEDULE} has no effect: the schedule "
                f"applies to the {' and '.join(OWN_MODELS)} models with the dlib detector; other detectors run "
                "once, as deepface runs them.",
                id="matching.W003",
            )
        )
    return problems


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
                id="matching.E008",
            )
        ]
    return []


@register(SERVING)
def gallery_snapshot_folder_usable(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """Snapshots hold opened embeddings: their folder must be in memory and the server's alone."""
    from pathlib import Path

    from .gallery_snapshots import snapshot_folder_problem

    configured = settings.FACENITION_GALLERY_SNAPSHOT_DIR
    if not configured:
        return []
    problem = snapshot_folder_problem(Path(configured))
    if problem is None:
        return []
    return [
        Error(
            f"FACENITION_GALLERY_SNAPSHOT_DIR={configured} cannot hold gallery snapshots: {problem}.",
            hint="Name a folder under /dev/shm (or another tmpfs) that only the server's user can open, "
            "or set FACENITION_GALLERY_SNAPSHOT_DIR= (empty) for a copy of each gallery per worker.",
            id="matching.E009",
        )
    ]


@register(Tags.database)
def subjects_sealed_under_keys_held(app_configs: Any, databases: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Gallery subjects whose keys (which open their faces) are wrapped under a token key the server no
    longer holds cannot be opened."""
    if not databases:
        return []
    try:
        subjects = count_missing_keys(SubjectKey.objects.all())
    except DatabaseError:  # not migrated yet: nothing is sealed
        return []
    if not subjects:
        return []
    return [
        CheckWarning(
            f"Gallery subjects' keys are wrapped under token keys this server no longer holds ({subjects}): "
            "their faces cannot be opened, and their galleries cannot be searched (502).",
            hint=KEY_BACK_HINT,
            id="matching.W001",
        )
    ]
