import base64
import csv
import io
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from PIL import Image
from rest_framework.test import APIClient


@dataclass(frozen=True)
class FacePhoto:
    file: str
    identity: str
    faces: str

    @property
    def path(self) -> Path:
        return settings.FACENITION_FACES_DIR / self.file

    def read(self) -> bytes:
        return self.path.read_bytes()

    def b64(self) -> str:
        return base64.b64encode(self.read()).decode()


def _load_faces():
    labels = settings.FACENITION_FACES_DIR / "labels.csv"
    if not labels.is_file():
        return None
    with labels.open() as handle:
        return [FacePhoto(row["file"], row["identity"], row["faces"]) for row in csv.DictReader(handle)]


@pytest.fixture(scope="session")
def face_photos():
    """Every labelled photo in the shared face set; skips when the set is not beside the checkout."""
    photos = _load_faces()
    if photos is None:
        pytest.skip(f"the real face photos are not at {settings.FACENITION_FACES_DIR} (set FACENITION_FACES_DIR)")
    return photos


@pytest.fixture(scope="session")
def single_face_photos(face_photos):
    return [p for p in face_photos if p.faces == "1" and p.identity]


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


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def client_token(db):
    from credentials.services import client_token_issue

    _, raw = client_token_issue(name="test client")
    return raw


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
