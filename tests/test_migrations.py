"""The migrations that split clients from their credentials move every existing row over."""

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

# The migrations alter tables that hold the rows the test just wrote: inside the test's own transaction
# PostgreSQL refuses ("cannot ALTER TABLE ... because it has pending trigger events").
pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("credentials", "0002_verification"), ("enrollment", "0001_initial")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def leaves():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


@pytest.fixture
def before_the_split():
    apps = migrate(BEFORE)
    yield apps
    migrate(leaves())


def test_every_token_becomes_a_client_that_keeps_its_enrollments(before_the_split):
    apps = before_the_split
    ClientToken = apps.get_model("credentials", "ClientToken")
    Verification = apps.get_model("credentials", "Verification")
    Enrollment = apps.get_model("enrollment", "Enrollment")
    now = timezone.now().replace(microsecond=0)
    later = now + timedelta(days=30)
    v1 = ClientToken.objects.create(
        prefix="aaaaaaaaaaaa",
        digest="1" * 64,
        name="kiosk",
        email="ops@example.com",
        api_version="1",
        created_at=now - timedelta(days=3),
        expires_at=later,
    )
    v2 = ClientToken.objects.create(
        prefix="bbbbbbbbbbbb",
        digest="2" * 64,
        name="app",
        email="ada@example.com",
        phone="+14155552671",
        api_version="2",
        created_at=now - timedelta(days=2),
        expires_at=later,
        revoked_at=now,
    )
    Verification.objects.create(
        email="ada@example.com",
        phone="+14155552671",
        code_seed="0" * 32,
        expires_at=now,
        verified_at=now - timedelta(days=2, minutes=1),
        spent_at=now - timedelta(days=2),
        client_token=v2,
    )
    enrollments = {uuid.uuid4(): token for token in (v1, v1, v2)}
    for pk, token in enrollments.items():
        Enrollment.objects.create(
            id=pk,
            client=token,
            subject=f"user-{pk.hex[:4]}",
            accuracy=4,
            scheme_version=1,
            token_digest=pk.hex * 2,
            expires_at=later,
        )

    apps = migrate(leaves())

    Client = apps.get_model("credentials", "Client")
    ClientToken = apps.get_model("credentials", "ClientToken")
    Enrollment = apps.get_model("enrollment", "Enrollment")
    assert Client.objects.count() == 2
    kiosk = ClientToken.objects.get(prefix="aaaaaaaaaaaa")
    app = ClientToken.objects.get(prefix="bbbbbbbbbbbb")
    assert (kiosk.client.name, kiosk.client.email, kiosk.client.phone, kiosk.client.verified_at) == (
        "kiosk",
        "ops@example.com",
        "",
        None,
    )
    assert kiosk.client.created_at == now - timedelta(days=3)
    assert (app.client.name, app.client.email, app.client.phone) == ("app", "ada@example.com", "+14155552671")
    assert app.client.verified_at == now - timedelta(days=2, minutes=1)
    assert (kiosk.digest, kiosk.expires_at, app.revoked_at, app.api_version) == ("1" * 64, later, now, "2")
    moved = {e.pk: (e.client_id, e.subject, e.token_digest) for e in Enrollment.objects.all()}
    assert moved == {
        pk: (ClientToken.objects.get(prefix=token.prefix).client_id, f"user-{pk.hex[:4]}", pk.hex * 2)
        for pk, token in enrollments.items()
    }


@pytest.fixture
def galleries_sealed_under_the_token_key():
    apps = migrate([("matching", "0001_galleries")])
    yield apps
    migrate(leaves())


def test_existing_galleries_are_sealed_again_under_subject_keys(galleries_sealed_under_the_token_key, settings):
    """Faces sealed under the token key's gallery sub-key (under the current key, or a retired one
    still listed) move to a key of their subject's own; the metadata is sealed; a rollback undoes it."""
    import numpy as np

    from facenition.keyring import GALLERY_EMBEDDINGS, TokenKey
    from matching.sealing import Sealer, face_associated_data

    settings.FACENITION_RETIRED_TOKEN_KEYS = retired = "a retired token key " + "r" * 40
    apps = galleries_sealed_under_the_token_key
    Client = apps.get_model("credentials", "Client")
    Gallery, Subject, Face = (apps.get_model("matching", name) for name in ("Gallery", "Subject", "Face"))
    gallery = Gallery.objects.create(client=Client.objects.create(name="kiosk"))
    keys = [TokenKey(settings.FACENITION_TOKEN_KEY.encode()), TokenKey(retired.encode())]
    embeddings = {}
    for number, key in enumerate(keys):
        sealer = Sealer(key=key.subkey(GALLERY_EMBEDDINGS))
        subject = Subject.objects.create(gallery=gallery, name=f"user-{number}", metadata={"team": f"team-{number}"})
        for _ in range(2):
            face = Face(subject=subject, key_id=key.key_id.hex(), model_name="Dlib", detector_name="dlib")
            face.box_left = face.box_top = face.box_width = face.box_height = 0
            face.quality = 0.0
            embeddings[face.pk] = np.random.default_rng(len(embeddings)).standard_normal(128).astype("<f4")
            face.sealed_embedding = sealer.seal(
                embeddings[face.pk],
                associated_data=face_associated_data(gallery_id=gallery.pk, subject_id=subject.pk, face_id=face.pk),
            )
            face.save(force_insert=True)
    before = dict(Face.objects.values_list("pk", "sealed_embedding"))

    migrate(leaves())

    from matching.galleries import gallery_subject_metadata
    from matching.gallery_index import _face_rows, subject_centroids
    from matching.gallery_keys import subject_sealer
    from matching.models import Face as LiveFace
    from matching.models import Subject as LiveSubject
    from matching.models import SubjectKey
    from matching.sealing import open_face

    current = keys[0].key_id.hex()
    assert set(SubjectKey.objects.values_list("key_id", flat=True)) == {current}
    for face in LiveFace.objects.select_related("subject"):
        ids = {"gallery_id": gallery.pk, "subject_id": face.subject_id}
        opened = open_face(subject_sealer(face.subject), bytes(face.sealed_embedding), face_id=face.pk, **ids)
        assert opened == embeddings[face.pk].tobytes()
        assert bytes(face.sealed_embedding) != bytes(before[face.pk])
    for number, subject in enumerate(LiveSubject.objects.order_by("name")):
        assert gallery_subject_metadata(subject=subject) == {"team": f"team-{number}"}
    assert len(subject_centroids(gallery.pk, _face_rows(gallery.pk), 2)[0]) == 2

    apps = migrate([("matching", "0001_galleries")])

    Face = apps.get_model("matching", "Face")
    Subject = apps.get_model("matching", "Subject")
    sealer = Sealer(key=keys[0].subkey(GALLERY_EMBEDDINGS))
    for face in Face.objects.all():
        ids = {"gallery_id": gallery.pk, "subject_id": face.subject_id, "face_id": face.pk}
        assert face.key_id == current
        opened = sealer.open_bytes(bytes(face.sealed_embedding), associated_data=face_associated_data(**ids))
        assert opened == embeddings[face.pk].tobytes()
    assert sorted(Subject.objects.values_list("metadata", flat=True), key=str) == [
        {"team": "team-0"},
        {"team": "team-1"},
    ]
