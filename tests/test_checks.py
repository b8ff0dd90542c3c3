import re
from pathlib import Path

import pytest
from django.core.checks import run_checks

REPO = Path(__file__).resolve().parents[1]
CHECK_ID = re.compile(r"""\bid=["']([A-Za-z_]+)\.([EW])(\d{3})["']""")


def ids(settings_overrides, settings):
    for name, value in settings_overrides.items():
        setattr(settings, name, value)
    return {message.id for message in run_checks()}


def test_missing_secret_key_stops_start_up(settings):
    assert "facenition.E001" in ids({"SECRET_KEY": settings.MISSING_SECRET}, settings)


def test_short_token_key_stops_start_up(settings):
    assert "facenition.E003" in ids({"FACENITION_TOKEN_KEY": "short"}, settings)


def test_missing_weights_stop_start_up(settings, tmp_path):
    assert "matching.E001" in ids({"DEEPFACE_HOME": str(tmp_path)}, settings)


def test_a_configured_server_passes(settings):
    assert not {i for i in ids({}, settings) if i.startswith("facenition.E")}


def test_a_request_deadline_not_below_gunicorns_timeout_stops_start_up(settings):
    assert "facenition.E020" in ids({"FACENITION_REQUEST_DEADLINE_SECONDS": 60, "GUNICORN_TIMEOUT": 60}, settings)


def test_a_wait_longer_than_the_request_deadline_stops_start_up(settings):
    assert "facenition.E021" in ids({"FACENITION_DB_READ_TIMEOUT_SECONDS": 30}, settings)


def test_a_database_read_timeout_not_above_the_statement_timeout_stops_start_up(settings):
    assert "facenition.E022" in ids({"FACENITION_DB_STATEMENT_TIMEOUT_SECONDS": 7}, settings)


def test_a_broker_visibility_timeout_past_the_codes_life_stops_start_up(settings):
    assert "credentials.E030" in ids({"FACENITION_BROKER_VISIBILITY_SECONDS": 3600}, settings)


def test_a_broker_visibility_timeout_within_the_longest_back_off_stops_start_up(settings):
    overrides = {"FACENITION_BROKER_VISIBILITY_SECONDS": 100, "FACENITION_DELIVERY_RETRY_SECONDS": 10}
    assert "credentials.E031" in ids(overrides, settings)


def test_a_stalled_delivery_wait_past_the_codes_life_stops_start_up(settings):
    assert "credentials.E032" in ids({"FACENITION_DELIVERY_STALLED_SECONDS": 600}, settings)


@pytest.mark.subprocess
def test_a_celery_worker_with_its_broker_past_the_codes_life_refuses_to_start():
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = dict(os.environ, FACENITION_BROKER_VISIBILITY_SECONDS="3600", DJANGO_SETTINGS_MODULE="facenition.settings")
    command = [sys.executable, "-m", "celery", "-A", "facenition", "worker", "--pool", "solo", "--queues", "none"]
    result = subprocess.run(
        command, cwd=Path(__file__).resolve().parents[1], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "FACENITION_BROKER_VISIBILITY_SECONDS (3600) must be below FACENITION_CODE_LIFETIME_SECONDS" in result.stderr


def test_a_missing_token_key_stops_start_up_and_names_the_variable(settings):
    settings.FACENITION_TOKEN_KEY = settings.MISSING_TOKEN_KEY
    errors = [m for m in run_checks() if m.id == "facenition.E004"]
    assert errors and "FACENITION_TOKEN_KEY" in errors[0].msg and "make setup" in errors[0].hint


def test_a_token_key_equal_to_secret_key_stops_start_up(settings):
    assert "facenition.E005" in ids({"FACENITION_TOKEN_KEY": settings.SECRET_KEY}, settings)


def test_a_short_retired_key_stops_start_up(settings):
    assert "facenition.E006" in ids({"FACENITION_RETIRED_TOKEN_KEYS": "x" * 40 + ", short"}, settings)


def test_the_embedded_development_key_is_announced(settings):
    assert "facenition.W002" in ids({"FACENITION_TOKEN_KEY": settings.DEVELOPMENT_TOKEN_KEY}, settings)


def test_secret_key_kept_as_a_retired_token_key_is_announced(settings):
    assert "facenition.W003" not in ids({}, settings)
    assert "facenition.W003" in ids({"FACENITION_RETIRED_TOKEN_KEYS": settings.SECRET_KEY}, settings)


def test_an_unknown_descriptor_stops_start_up_and_names_the_setting(settings):
    settings.FACENITION_DESCRIPTOR = "flipped"
    messages = [m for m in run_checks() if m.id == "matching.E002"]
    assert messages and "FACENITION_DESCRIPTOR" in messages[0].msg and "plain, mirror" in messages[0].msg


def test_an_unknown_alignment_or_jitter_count_stops_start_up(settings):
    assert "matching.E003" in ids({"FACENITION_ALIGN_ON": "chip"}, settings)
    settings.FACENITION_ALIGN_ON = "photo"
    assert "matching.E004" in ids({"FACENITION_DESCRIPTOR_JITTERS": -1}, settings)


def test_a_negative_face_size_floor_stops_start_up(settings):
    assert "matching.E005" in ids({"FACENITION_MIN_FACE_SIZE": -5}, settings)


def test_a_descriptor_the_levels_were_not_calibrated_for_is_warned_about(settings):
    # The descriptor variants are Dlib's (SFace refuses them: matching.E007, tests/matching/test_sface.py).
    assert "matching.W002" in ids({"FACENITION_MODEL": "Dlib", "FACENITION_DESCRIPTOR": "mirror"}, settings)
    assert "matching.W002" not in ids({"FACENITION_MODEL": "Dlib", "FACENITION_DESCRIPTOR": "plain"}, settings)


def test_a_detection_schedule_that_cannot_apply_is_named(settings):
    thorough_on_mtcnn = {
        "FACENITION_MODEL": "Dlib",
        "FACENITION_DETECTOR": "mtcnn",
        "FACENITION_DETECT_SCHEDULE": "thorough",
    }
    assert "matching.W003" in ids(thorough_on_mtcnn, settings)
    assert "matching.W003" not in ids({"FACENITION_MODEL": "Dlib", "FACENITION_DETECTOR": "dlib"}, settings)


@pytest.mark.parametrize("model", ["Dlib", "SFace"])
def test_a_detection_schedule_that_applies_is_not_warned_about(settings, model):
    overrides = {"FACENITION_MODEL": model, "FACENITION_DETECTOR": "dlib", "FACENITION_DETECT_SCHEDULE": "thorough"}
    assert "matching.W003" not in ids(overrides, settings)


@pytest.mark.django_db
def test_tokens_and_gallery_faces_sealed_under_a_key_no_longer_held_are_counted_per_key(settings):
    from datetime import timedelta

    from django.utils import timezone

    from credentials.services import client_create
    from enrollment.models import Enrollment
    from facenition.keyring import TokenKey
    from matching.models import Gallery, Subject, SubjectKey

    client = client_create(name="a client")
    current = TokenKey(settings.FACENITION_TOKEN_KEY.encode()).key_id.hex()
    later = timezone.now() + timedelta(days=1)
    for key_id, revoked_at in [("deadbeef", None), ("deadbeef", None), ("0badc0de", None), ("0badc0de", later)]:
        Enrollment.objects.create(
            client=client,
            accuracy=3,
            scheme_version=2,
            key_id=key_id,
            token_digest="x",
            expires_at=later,
            revoked_at=revoked_at,
        )
    Enrollment.objects.create(
        client=client, accuracy=3, scheme_version=2, key_id=current, token_digest="x", expires_at=later
    )
    gallery = Gallery.objects.create(client=client)
    for number, key_id in enumerate(("cafebabe", current)):
        subject = Subject.objects.create(gallery=gallery, name=f"user-{number}")
        SubjectKey.objects.create(subject=subject, wrapped_key=b"x", key_id=key_id)

    messages = {message.id: message for message in run_checks(databases=["default"])}

    assert "(key 0badc0de: 1, key deadbeef: 2)" in messages["enrollment.W001"].msg
    assert "(key cafebabe: 1)" in messages["matching.W001"].msg
    assert "FACENITION_RETIRED_TOKEN_KEYS" in messages["enrollment.W001"].hint


def test_each_package_names_its_checks_in_its_own_namespace():
    found = {}
    for package in ("facenition", "credentials", "enrollment", "matching"):
        for module in (REPO / package).rglob("*.py"):
            for namespace, kind, number in CHECK_ID.findall(module.read_text()):
                assert namespace == package, f"{module.relative_to(REPO)}: {namespace}.{kind}{number}"
                found.setdefault(package, set()).add(f"{kind}{number}")
    assert set(found) == {"facenition", "credentials", "enrollment", "matching"}, found
    assert {"E001", "W001"} <= found["matching"] and found["enrollment"] == {"W001"}
