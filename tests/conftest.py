import hashlib
import io
import uuid

import pytest
from django.conf import settings
from PIL import Image
from rest_framework.test import APIClient

from facenition.faceset import FaceSetMissing, labelled_photos

# A test that asks for one of these fixtures, directly or through another, carries the markers:
# `make test-fast` leaves out the tests that need the face models, a Celery worker or the fake
# SMTP and SMS servers, and those that start a server or a process that loads the app (seconds
# each). A test that starts one without such a fixture says so with @pytest.mark.subprocess.
MARKER_OF_FIXTURE = {
    "face_photos": ("faces",),
    "server": ("faces", "subprocess"),  # test_server.py, test_demo.py, test_front.py: gunicorn loading the models
    "gunicorn": ("subprocess",),  # tests/test_serving.py
    "built_cache": ("subprocess",),  # tests/enrollment/test_protection.py: a process building the code
    "worker": ("worker", "subprocess"),
    "mails": ("network",),
    "texts": ("network",),
}


def pytest_collection_modifyitems(items):
    for item in items:
        for fixture, markers in MARKER_OF_FIXTURE.items():
            if fixture in getattr(item, "fixturenames", ()):
                for marker in markers:
                    item.add_marker(marker)


def pytest_sessionstart(session):
    """Without the PostgreSQL or Redis the settings name, every test would fail with a driver's
    traceback: stop at once and say what is missing and how to point the tests elsewhere."""
    from django.db import connection

    unreachable = []
    if connection.vendor == "postgresql":
        import psycopg

        db = connection.settings_dict
        try:
            psycopg.connect(
                host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], password=db["PASSWORD"],
                dbname="postgres", connect_timeout=3,
            ).close()  # fmt: skip
        except psycopg.OperationalError as error:
            unreachable.append(
                f"PostgreSQL at {db['HOST']}:{db['PORT'] or 5432} ({str(error).strip().splitlines()[0]})"
            )
    if settings.REDIS_URL:
        import redis

        try:
            redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=3).ping()
        except redis.RedisError as error:
            unreachable.append(f"Redis at {settings.REDIS_URL} ({error})")
    if unreachable:
        pytest.exit(
            f"The tests need {' and '.join(unreachable)}: start it (make test expects both on 127.0.0.1), "
            "or point the tests elsewhere with TEST_DATABASE_URL and TEST_REDIS_URL (make test-names shows them).",
            returncode=3,
        )


@pytest.fixture(scope="session")
def face_photos():
    """Every labelled photo in the shared face set; skips when the set is not beside the checkout."""
    try:
        return labelled_photos(settings.FACENITION_FACES_DIR)
    except FaceSetMissing as missing:
        pytest.skip(f"the real face photos are missing: {missing}")


@pytest.fixture(scope="session")
def single_face_photos(face_photos):
    return [p for p in face_photos if p.shows_one_known_person]


@pytest.fixture(scope="session")
def photos_by_identity(single_face_photos):
    people = {}
    for photo in single_face_photos:
        people.setdefault(photo.identity, []).append(photo)
    return people


@pytest.fixture(scope="session")
def photo(face_photos):
    """Looks a photo up by file name."""
    index = {p.file: p for p in face_photos}
    return index.__getitem__


@pytest.fixture(autouse=True)
def fresh_rate_limits(settings):
    """Each test counts from zero: its rate-limit keys live under a prefix of its own."""
    settings.RATELIMIT_CACHE_PREFIX = f"rl:test-{uuid.uuid4().hex}:"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """The admin tests create a superuser with a password; the production hasher (PBKDF2, a million
    rounds) spends most of a second on it, and no test here is about password hashing."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def staff_client(db, client):
    """`staff_client("credentials.view_client", ...)`: a browser signed in to the admin as a staff
    member (not a superuser) who holds only the permissions named."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    def sign_in(*permissions):
        user = get_user_model().objects.create_user("staff", "staff@example.test", "pw", is_staff=True)
        for permission in permissions:
            app_label, codename = permission.split(".")
            user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        client.force_login(user)
        return client

    return sign_in


@pytest.fixture
def client_token(db):
    from credentials.services import client_token_issue

    return client_token_issue(name="test client").raw


@pytest.fixture
def authed(api, client_token):
    api.credentials(HTTP_X_AUTH_TOKEN=client_token)
    return api


def make_image_bytes(fmt="JPEG", size=(64, 48), mode="RGB", color=(200, 120, 40), **save_args):
    image = Image.new(mode, size, color)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save_args)
    return buffer.getvalue()


def upload(name, content, content_type="application/octet-stream"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content, content_type=content_type)


@pytest.fixture(scope="session")
def pipeline_answers():
    return {}


@pytest.fixture
def pipeline_reads_each_photo_once(monkeypatch, pipeline_answers):
    """For tests about tokens or galleries, not the pipeline: each distinct photo is read once per
    session (per way of reading it) and the answer reused, which changes nothing but the time."""
    from matching.pipeline import FacePipeline

    analyse = FacePipeline.analyse

    def remembered(pipeline, rgb, **how):
        key = f"{hashlib.sha1(rgb.tobytes()).hexdigest()}{rgb.shape}{sorted(how.items())}{pipeline.config.variant}"
        if key not in pipeline_answers:
            pipeline_answers[key] = analyse(pipeline, rgb, **how)
        return pipeline_answers[key]

    monkeypatch.setattr(FacePipeline, "analyse", remembered)
