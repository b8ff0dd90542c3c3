"""Embeddings at rest: the table holds AES-GCM ciphertext bound to its row, under its subject's key
wrapped under the token key, never floats."""

import io

import numpy as np
import pytest
from django.db import connection

from facenition.keyring import GALLERY_EMBEDDINGS, TokenKey
from matching.gallery_index import gallery_forget_cached
from matching.gallery_keys import gallery_key_wrapper, subject_sealer
from matching.models import Face, Gallery, SubjectKey
from matching.sealing import SealBroken, Sealer, face_associated_data, open_subject_key
from tests.matching.conftest import gallery_enroll, gallery_identify

pytestmark = [pytest.mark.django_db, pytest.mark.faces, pytest.mark.usefixtures("pipeline_reads_each_photo_once")]


@pytest.fixture
def enrolled(authed, photo):
    gallery_enroll(authed, "user-42", [photo("deepface-a_img1.jpg"), photo("deepface-a_img2.jpg")])
    gallery_enroll(authed, "user-43", [photo("obama_obama.jpg")])
    return {face.pk: face for face in Face.objects.all()}


def embedding_of(face):
    return subject_sealer(face.subject).open(
        face.sealed_embedding,
        associated_data=face_associated_data(
            gallery_id=face.subject.gallery_id, subject_id=face.subject_id, face_id=face.pk
        ),
    )


def table_dump(table):
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT * FROM "{table}"')
        return [bytes(value) if isinstance(value, memoryview) else value for row in cursor.fetchall() for value in row]


def test_the_embeddings_column_holds_ciphertext_not_floats(enrolled):
    for face in enrolled.values():
        sealed = bytes(face.sealed_embedding)
        embedding = embedding_of(face)
        assert len(sealed) == 12 + 128 * 4 + 16
        # Read as float32 at any alignment, the column is noise: about half its values are outside
        # the unit range every value of an embedding is in, and it points nowhere near the embedding.
        for offset in range(4):
            floats = np.frombuffer(sealed[offset : offset + 128 * 4], dtype="<f4")
            finite = floats[np.isfinite(floats)].astype(np.float64)
            assert np.mean(np.abs(finite) < 1) < 0.8  # a Dlib embedding: every value
            if len(finite) == 128:
                cosine = finite @ embedding / (np.linalg.norm(finite) * np.linalg.norm(embedding))
                assert abs(cosine) < 0.5


def test_a_dump_of_the_gallery_tables_reveals_no_embedding(enrolled):
    values = [
        value for table in ("matching_face", "matching_subject", "matching_gallery") for value in table_dump(table)
    ]
    for face in enrolled.values():
        embedding = embedding_of(face)
        needles = [
            embedding.astype("<f4").tobytes()[:16],
            embedding.astype("<f8").tobytes()[:16],
            embedding.astype(">f4").tobytes()[:16],
            f"{embedding[0]:.4f}".encode(),
        ]
        for value in values:
            blob = value if isinstance(value, bytes) else str(value).encode()
            assert not any(needle in blob for needle in needles)


def test_a_ciphertext_moved_to_another_row_does_not_open(enrolled):
    first, second = list(enrolled.values())[:2]
    with pytest.raises(SealBroken):
        subject_sealer(first.subject).open(
            second.sealed_embedding,
            associated_data=face_associated_data(
                gallery_id=first.subject.gallery_id, subject_id=first.subject_id, face_id=first.pk
            ),
        )


def test_a_gallery_with_swapped_ciphertexts_is_refused_not_searched(authed, enrolled, photo):
    mine = Face.objects.filter(subject__name="user-42").first()
    theirs = Face.objects.filter(subject__name="user-43").first()
    Face.objects.filter(pk=mine.pk).update(sealed_embedding=bytes(theirs.sealed_embedding))
    Face.objects.filter(pk=theirs.pk).update(sealed_embedding=bytes(mine.sealed_embedding))
    gallery_forget_cached(Gallery.objects.get().pk)

    response = gallery_identify(authed, photo("obama_obama3.jpg"), accuracy=1)

    assert response.status_code == 502
    assert "it was altered or moved in the database" in response.json()["error"]


def test_a_subject_key_opens_only_under_its_own_token_key(enrolled):
    face = next(iter(enrolled.values()))
    wrapped = SubjectKey.objects.get(subject_id=face.subject_id)
    key = TokenKey(b"another token key")
    other = Sealer(key=key.subkey(GALLERY_EMBEDDINGS), key_id=key.key_id.hex())
    assert other.key_id != wrapped.key_id == gallery_key_wrapper().key_id
    with pytest.raises(SealBroken):
        open_subject_key(
            {wrapped.key_id: other},
            bytes(wrapped.wrapped_key),
            wrapped.key_id,
            gallery_id=face.subject.gallery_id,
            subject_id=face.subject_id,
        )


def test_a_rotated_token_key_still_opens_the_gallery_and_reseal_moves_it_to_the_new_key(
    authed, enrolled, photo, settings
):
    from django.core.management import call_command

    old_key, old_id = settings.FACENITION_TOKEN_KEY, gallery_key_wrapper().key_id
    settings.FACENITION_TOKEN_KEY = "a newer token key " + "n" * 40
    settings.FACENITION_RETIRED_TOKEN_KEYS = old_key
    gallery_forget_cached(Gallery.objects.get().pk)
    assert gallery_identify(authed, photo("obama_obama3.jpg"), accuracy=1).json()["faces"][0]["candidates"]

    out = io.StringIO()
    call_command("reseal_galleries", stdout=out)

    assert out.getvalue().strip() == "re-wrapped 2 gallery subject key(s) under the current token key"
    assert set(SubjectKey.objects.values_list("key_id", flat=True)) == {gallery_key_wrapper().key_id} != {old_id}
    settings.FACENITION_RETIRED_TOKEN_KEYS = ""
    gallery_forget_cached(Gallery.objects.get().pk)
    body = gallery_identify(authed, photo("obama_obama3.jpg"), accuracy=1).json()
    assert body["faces"][0]["candidates"][0]["subject"] == "user-43"


def test_a_gallery_sealed_under_a_key_the_server_no_longer_has_is_refused(authed, enrolled, photo, settings):
    settings.FACENITION_TOKEN_KEY = "a newer token key " + "n" * 40
    gallery_forget_cached(Gallery.objects.get().pk)
    response = gallery_identify(authed, photo("obama_obama3.jpg"), accuracy=1)
    assert response.status_code == 502
    assert "a token key the server no longer has" in response.json()["error"]
