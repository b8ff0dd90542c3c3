"""Whatever a client puts in the gallery endpoints' fields, the answer is never a 5xx: a bad field
is a 400 naming it, and a client that retries a 502 would pay for the face work each time."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import upload

pytestmark = [pytest.mark.django_db]

# Any text, NUL and lone surrogates (which hypothesis leaves out by default) included.
HOSTILE_CHARACTERS = st.characters() | st.sampled_from(["\x00", "\ud800", "\udfff"])
HOSTILE_TEXT = st.text(HOSTILE_CHARACTERS, max_size=300)
KEYS = st.text(HOSTILE_CHARACTERS, max_size=8)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | HOSTILE_TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(KEYS, children, max_size=3),
    max_leaves=12,
)
OBJECTS = st.dictionaries(KEYS, JSON_VALUES, min_size=1, max_size=4)
SUBJECTS = st.text(HOSTILE_CHARACTERS, min_size=1, max_size=200)
# JSON numbers that overflow a float, which json.dumps never writes.
OVERFLOWING = st.sampled_from(['{"a": 1e400}', '{"a": -1e999}', '{"a": [2e308]}'])
# Text that a form can carry (UTF-8): what JSON escapes cannot reach, the form's own bytes can.
FORM_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=300)
NUMBERS = st.integers() | st.floats() | HOSTILE_TEXT
EXAMPLES = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


def as_json(body):
    """A JSON body as a hostile client writes it: NaN, Infinity and lone surrogates included."""
    return json.dumps(body, allow_nan=True)


@pytest.fixture(autouse=True)
def no_rate_limit(settings):
    """Each test sends hundreds of requests, an example each (and hypothesis replays the failing one)."""
    settings.FACENITION_RATE_LIMIT_PER_TOKEN = "1000000/m"


@pytest.fixture
def face(photo, pipeline_reads_each_photo_once):
    return photo("deepface-a_img1.jpg")


@EXAMPLES
@given(
    subject=st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=200) | FORM_TEXT,
    metadata=OBJECTS.map(as_json) | OVERFLOWING | FORM_TEXT,
    nested=st.just(0) | st.integers(1, 40) | st.integers(900, 1200),
)
def test_enrolling_with_any_form_fields_never_fails_the_server(authed, face, subject, metadata, nested):
    metadata = "[" * nested + metadata + "]" * nested
    data = {"subject": subject, "metadata": metadata, "image": [upload("a.jpg", face.read())]}
    response = authed.post("/gallery/enroll", data, format="multipart")
    assert response.status_code < 500, response.json()
    assert authed.post("/gallery/subjects", {}, format="json").status_code == 200


@EXAMPLES
@given(subject=SUBJECTS | JSON_VALUES, metadata=OBJECTS | JSON_VALUES)
def test_enrolling_with_any_json_fields_never_fails_the_server(authed, face, subject, metadata):
    body = as_json({"subject": subject, "metadata": metadata, "image": face.b64()})
    response = authed.post("/gallery/enroll", body, content_type="application/json")
    assert response.status_code < 500, response.json()
    assert authed.post("/gallery/subjects", {}, format="json").status_code == 200


@EXAMPLES
@given(page=NUMBERS, page_size=NUMBERS)
def test_listing_any_page_never_fails_the_server(authed, page, page_size):
    response = authed.post(
        "/gallery/subjects", as_json({"page": page, "page_size": page_size}), content_type="application/json"
    )
    assert response.status_code < 500, response.json()


@EXAMPLES
@given(accuracy=NUMBERS, limit=NUMBERS)
def test_identifying_with_any_fields_never_fails_the_server(authed, face, accuracy, limit):
    body = as_json({"accuracy": accuracy, "limit": limit, "image": face.b64()})
    response = authed.post("/gallery/identify", body, content_type="application/json")
    assert response.status_code < 500, response.json()


@EXAMPLES
@given(subject=HOSTILE_TEXT | JSON_VALUES, face_id=HOSTILE_TEXT | JSON_VALUES)
def test_forgetting_with_any_fields_never_fails_the_server(authed, subject, face_id):
    body = as_json({"subject": subject, "face": face_id})
    response = authed.post("/gallery/forget", body, content_type="application/json")
    assert response.status_code < 500, response.json()
