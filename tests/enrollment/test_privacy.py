"""What the server keeps and what a token gives away, tested the way an attacker would go about it:
no face data at rest; with the token key, a token gives its face back and tokens of one face link;
without the key, neither attack gets anywhere. docs/security.md's "Threat model" states the same."""

import numpy as np
import pytest
from django.conf import settings
from django.db import connection

from enrollment.protection import accepts, open_commitment, token_decode
from enrollment.protection.attacks import cosine_distance, invert, link
from enrollment.protection.binarisation import DEPLOYED
from facenition.keyring import token_keyring
from matching.accuracy import DEFAULT_ACCURACY, MATCH_THRESHOLDS, MAX_ACCURACY, MIN_ACCURACY
from matching.intake import decode_image
from matching.reading import faces_read

from .conftest import authenticate, generate, images

pytestmark = [pytest.mark.django_db, pytest.mark.faces]
# The server's face model: the tokens these tests issue are made with it.
MODEL = settings.FACENITION_MODEL


def decoded(raw):
    return token_decode(raw, keyring=token_keyring())


def issued(client, photos):
    response = generate(client, photos)
    assert response.status_code == 201, response.json()
    return response.json()["token"]


def embedding_of(photo):
    return faces_read(images=[decode_image(photo.file, photo.read())])[0].face.embedding


def opens(token, embedding):
    """Whether `embedding` unlocks the token at the default accuracy, as /authenticate would decide."""
    errors = open_commitment(
        token.commitment,
        embedding=embedding,
        enrollment_id=token.enrollment_id.bytes,
        key=token.key,
        population=DEPLOYED[MODEL],
    )
    return accepts(errors, DEFAULT_ACCURACY, MODEL)


def test_no_column_of_any_table_holds_an_embedding_or_an_image(authed, people):
    tokens = [issued(authed, people(identity)[:3]) for identity in ("deepface-a", "obama", "deepface-e")]
    authenticate(authed, tokens[0], people("deepface-a")[6:7])
    authenticate(authed, tokens[0], people("deepface-b")[:1])
    authed.post("/rotate", {"token": tokens[1], "image": images(*people("obama")[3:6])}, format="json")
    sealed = [decoded(raw).commitment.sealed_helper.hex() for raw in tokens]

    rows_seen = 0
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f'SELECT * FROM "{table}"')
            for row in cursor.fetchall():
                rows_seen += 1
                for value in row:
                    assert not isinstance(value, (bytes, bytearray, memoryview, list, dict)), (table, value)
                    if isinstance(value, str):
                        # A 128-d embedding written as text or base64 is far longer than this.
                        assert len(value) <= 200, (table, value[:80])
                        assert not any(raw in value or value in raw for raw in tokens if len(value) > 40), table
                        assert not any(helper in value for helper in sealed), table
    assert rows_seen >= 5


def test_with_the_key_a_token_gives_its_face_back_and_without_it_nothing(authed, other_client, people):
    """The inversion attack: rebuild an embedding from a token, then use it as the face."""
    stolen = decoded(issued(authed, people("deepface-a")[:3]))
    elsewhere = decoded(issued(other_client, people("deepface-a")[3:6]))  # the same person, another client
    stranger = decoded(issued(authed, people("deepface-b")[:3]))
    unseen = people("deepface-a")[6:]

    rebuilt = invert(stolen, stolen.key, population=DEPLOYED[MODEL])

    assert rebuilt is not None
    enrolled = np.mean([embedding_of(photo) for photo in people("deepface-a")[:3]], axis=0)
    # /match at its strictest level calls it the embedding enrolled.
    assert cosine_distance(rebuilt, enrolled) <= MATCH_THRESHOLDS[MODEL][MAX_ACCURACY]
    # The rebuilt embedding stands in for the face: /match would call it the person's own photos at
    # its most tolerant level, and it unlocks the person's token at another client.
    assert all(cosine_distance(rebuilt, embedding_of(photo)) <= MATCH_THRESHOLDS[MODEL][1] for photo in unseen)
    assert opens(elsewhere, rebuilt) and not opens(stranger, rebuilt)

    # The same attack on the token as it travels, without the key:
    assert invert(stolen, None, population=DEPLOYED[MODEL]) is None


def test_with_the_key_tokens_of_one_face_link_across_clients_and_rotation_and_without_it_they_do_not(
    authed, other_client, people
):
    """The linking attack: invert both tokens and compare, and XOR their helpers and decode."""
    first = issued(authed, people("deepface-a")[:3])
    rotated = authed.post("/rotate", {"token": first, "image": images(*people("deepface-a")[3:6])}, format="json")
    assert rotated.status_code == 200, rotated.json()
    same_face = [
        decoded(first),
        decoded(issued(other_client, people("deepface-a")[:3])),  # the same photos, another client
        decoded(rotated.json()["token"]),  # after /rotate
    ]
    another = decoded(issued(other_client, people("deepface-b")[:3]))
    key = same_face[0].key
    pairs = [(same_face[0], same_face[1]), (same_face[0], same_face[2]), (same_face[1], same_face[2])]
    strangers = [(token, another) for token in same_face]
    rebuilt = {}
    threshold = MATCH_THRESHOLDS[MODEL][MIN_ACCURACY]

    with_key = [
        link(a, b, key, population=DEPLOYED[MODEL], threshold=threshold, rebuilt=rebuilt) for a, b in pairs + strangers
    ]
    assert [result.linked for result in with_key] == [True] * 3 + [False] * 3
    assert not any(result.code_offset for result in with_key)  # each token's own rotation defeats it

    without_key = [
        link(a, b, population=DEPLOYED[MODEL], threshold=threshold, rebuilt=rebuilt) for a, b in pairs + strangers
    ]
    assert [result.linked for result in without_key] == [False] * 6
    assert all(result.rebuilt_distance is None for result in without_key)
