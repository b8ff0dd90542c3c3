"""Forgetting erases: each subject's faces and metadata are sealed under the subject's own key,
stored only wrapped under the token key; forgetting deletes that key, so a copy of the faces made
before the forget (a dump of the face table, PostgreSQL's free space or WAL) no longer opens."""

import io

import numpy as np
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.management import call_command

from facenition.keyring import PURPOSES, TokenKey
from matching.galleries import gallery_enroll_embeddings, gallery_forget, gallery_subject_metadata, gallery_subjects
from matching.gallery_index import gallery_forget_cached, gallery_search, gallery_size
from matching.gallery_keys import gallery_key_wrappers, subject_sealer
from matching.models import Face, Gallery, Subject, SubjectKey
from matching.sealing import SealBroken, face_associated_data, open_face, open_subject_key, seal_metadata
from tests.matching.conftest import synthetic_subjects

pytestmark = [pytest.mark.django_db]


def vectors_of(count, seed=0):
    return np.random.default_rng(seed).standard_normal((count, 128)).astype(np.float32)


@pytest.fixture
def two_faced(client_row):
    """A gallery of a few synthetic subjects, and "user-42" with two faces and metadata."""
    synthetic_subjects(client_row, 3)
    gallery_enroll_embeddings(
        client=client_row,
        subjects=[("user-42", list(vectors_of(2, seed=42)))],
        model_name=settings.FACENITION_MODEL,
        detector_name="dlib",
    )
    row = Subject.objects.get(name="user-42")
    Subject.objects.filter(pk=row.pk).update(
        sealed_metadata=seal_metadata(
            subject_sealer(row), {"team": "blue"}, gallery_id=row.gallery_id, subject_id=row.pk
        )
    )
    return Subject.objects.get(pk=row.pk)


def copied(model, **filters):
    """Rows as a backup, or the WAL, holds them: every column's value."""
    return [
        {field.attname: getattr(row, field.attname) for field in model._meta.concrete_fields}
        for row in model.objects.filter(**filters)
    ]


def fresh(gallery_id):
    return Gallery.objects.get(pk=gallery_id)


def test_a_copy_of_a_forgotten_subjects_rows_no_longer_opens_on_the_server(client_row, two_faced):
    subjects, faces = copied(Subject, pk=two_faced.pk), copied(Face, subject=two_faced)
    gallery_id = two_faced.gallery_id

    gallery_forget(client=client_row, subject="user-42")
    # The subject and face rows come back from a copy made before the forget; its key does not.
    Subject.objects.bulk_create([Subject(**row) for row in subjects])
    Face.objects.bulk_create([Face(**row) for row in faces])
    gallery_forget_cached(gallery_id)

    assert not SubjectKey.objects.filter(subject_id=two_faced.pk).exists()
    with pytest.raises(SealBroken, match="has no key: its faces were forgotten"):
        gallery_size(fresh(gallery_id))
    with pytest.raises(SealBroken):
        gallery_subject_metadata(subject=Subject.objects.get(pk=two_faced.pk))


def test_the_token_key_alone_opens_no_copy_of_a_forgotten_face(client_row, two_faced, settings):
    faces = copied(Face, subject=two_faced)

    gallery_forget(client=client_row, subject="user-42")

    key = TokenKey(settings.FACENITION_TOKEN_KEY.encode())
    for face in faces:
        sealed = bytes(face["sealed_embedding"])
        ad = face_associated_data(gallery_id=two_faced.gallery_id, subject_id=two_faced.pk, face_id=face["id"])
        for candidate in [key.subkey(purpose) for purpose in PURPOSES]:
            with pytest.raises(InvalidTag):
                AESGCM(candidate).decrypt(sealed[:12], sealed[12:], ad)


def test_a_forgotten_face_of_a_subject_that_stays_no_longer_opens(client_row, two_faced):
    forgotten, kept = Face.objects.filter(subject=two_faced).order_by("pk")
    copy = bytes(forgotten.sealed_embedding)
    ids = {"gallery_id": two_faced.gallery_id, "subject_id": two_faced.pk}
    before = subject_sealer(two_faced)
    embedding = np.frombuffer(open_face(before, bytes(kept.sealed_embedding), face_id=kept.pk, **ids), "<f4")

    gallery_forget(client=client_row, face_id=forgotten.pk)

    with pytest.raises(SealBroken):
        open_face(subject_sealer(two_faced), copy, face_id=forgotten.pk, **ids)
    # The subject stays whole under its new key: its other face, its metadata, its place in the search.
    assert gallery_subject_metadata(subject=Subject.objects.get(pk=two_faced.pk)) == {"team": "blue"}
    _, found = gallery_search(fresh(two_faced.gallery_id), [embedding], 1)
    assert found[0][0].subject_id == two_faced.pk
    assert found[0][0].distance == pytest.approx(0, abs=1e-5)


def test_metadata_is_not_stored_in_clear_and_is_listed(client_row, two_faced):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM matching_subject WHERE id = %s", [two_faced.pk])
        raw = [bytes(value) if isinstance(value, memoryview) else str(value).encode() for value in cursor.fetchone()]
    assert not any(b"team" in value or b"blue" in value for value in raw)
    _, listed = gallery_subjects(client=client_row)
    assert {row.subject.name: row.metadata for row in listed}["user-42"] == {"team": "blue"}


def rotate(settings):
    old = settings.FACENITION_TOKEN_KEY
    settings.FACENITION_TOKEN_KEY = "a newer token key " + "n" * 40
    settings.FACENITION_RETIRED_TOKEN_KEYS = old


def test_reseal_rewraps_subject_keys_and_leaves_every_face_as_it_was(client_row, two_faced, settings):
    faces_before = dict(Face.objects.values_list("pk", "sealed_embedding"))
    rotate(settings)

    out = io.StringIO()
    call_command("reseal_galleries", stdout=out)

    assert out.getvalue().strip() == "re-wrapped 4 gallery subject key(s) under the current token key"
    new_id = TokenKey(settings.FACENITION_TOKEN_KEY.encode()).key_id.hex()
    assert set(SubjectKey.objects.values_list("key_id", flat=True)) == {new_id}
    assert {pk: bytes(sealed) for pk, sealed in Face.objects.values_list("pk", "sealed_embedding")} == {
        pk: bytes(sealed) for pk, sealed in faces_before.items()
    }
    settings.FACENITION_RETIRED_TOKEN_KEYS = ""
    gallery_forget_cached(two_faced.gallery_id)
    assert gallery_size(fresh(two_faced.gallery_id)) == 4
    assert gallery_subject_metadata(subject=two_faced) == {"team": "blue"}


def test_a_copy_made_before_a_forget_opens_only_until_its_token_key_is_retired(client_row, two_faced, settings):
    (wrapped,) = copied(SubjectKey, subject_id=two_faced.pk)
    face = copied(Face, subject=two_faced)[0]
    ids = {"gallery_id": two_faced.gallery_id, "subject_id": two_faced.pk}
    gallery_forget(client=client_row, subject="user-42")

    def opened_with_the_servers_keys():
        sealer = open_subject_key(gallery_key_wrappers(), bytes(wrapped["wrapped_key"]), wrapped["key_id"], **ids)
        return open_face(sealer, bytes(face["sealed_embedding"]), face_id=face["id"], **ids)

    # A backup holds the wrapped key: the token key that wrapped it still opens it...
    assert len(opened_with_the_servers_keys()) == 128 * 4
    rotate(settings)
    call_command("reseal_galleries", stdout=io.StringIO())
    assert len(opened_with_the_servers_keys()) == 128 * 4
    # ...until that key is retired for good.
    settings.FACENITION_RETIRED_TOKEN_KEYS = ""
    with pytest.raises(SealBroken, match="a token key the server no longer has"):
        opened_with_the_servers_keys()
