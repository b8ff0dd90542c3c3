"""Every existing subject gets its own data key: its faces, sealed until now under the token key's
gallery sub-key, are opened with the keyring and sealed again under that key, and its metadata is
sealed too. A face that does not open stops the migration: the operator puts back the token key
that sealed it (FACENITION_RETIRED_TOKEN_KEYS) and runs it again, rather than lose it unseen."""

from django.conf import settings
from django.db import migrations

from facenition.keyring import GALLERY_EMBEDDINGS, keyring_from
from matching.sealing import (
    Sealer,
    SealBroken,
    face_associated_data,
    new_subject_key,
    open_face,
    open_metadata,
    open_subject_key,
    seal_metadata,
)

BATCH = 1000


def _gallery_subkeys() -> tuple[Sealer, dict[str, Sealer]]:
    keyring = keyring_from(settings.FACENITION_TOKEN_KEY, settings.FACENITION_RETIRED_TOKEN_KEYS)
    sealers = {
        key.key_id.hex(): Sealer(key=key.subkey(GALLERY_EMBEDDINGS), key_id=key.key_id.hex()) for key in keyring.keys
    }
    return sealers[keyring.current.key_id.hex()], sealers


def _batches(Subject):
    last = 0
    while subjects := list(Subject.objects.filter(pk__gt=last).order_by("pk")[:BATCH]):
        last = subjects[-1].pk
        yield subjects


def _faces_of(Face, subjects):
    faces: dict[int, list] = {}
    for face in Face.objects.filter(subject_id__in=[subject.pk for subject in subjects]):
        faces.setdefault(face.subject_id, []).append(face)
    return faces


def _refused(face, problem: str) -> RuntimeError:
    return RuntimeError(
        f"gallery face {face.pk} {problem}: put the token key that sealed it back in "
        "FACENITION_RETIRED_TOKEN_KEYS and migrate again, or delete the face."
    )


def seal_under_subject_keys(apps, schema_editor):
    Subject, SubjectKey, Face = (apps.get_model("matching", name) for name in ("Subject", "SubjectKey", "Face"))
    current, sealers = _gallery_subkeys()
    for subjects in _batches(Subject):
        faces_by_subject = _faces_of(Face, subjects)
        keys, faces = [], []
        for subject in subjects:
            ids = {"gallery_id": subject.gallery_id, "subject_id": subject.pk}
            sealer, wrapped = new_subject_key(current, **ids)
            keys.append(SubjectKey(subject_id=subject.pk, wrapped_key=wrapped, key_id=current.key_id))
            subject.sealed_metadata = seal_metadata(sealer, subject.metadata, **ids)
            for face in faces_by_subject.get(subject.pk, []):
                old = sealers.get(face.key_id)
                if old is None:
                    raise _refused(
                        face, f"was sealed under a token key the server does not have (key id {face.key_id})"
                    )
                try:
                    plain = open_face(old, bytes(face.sealed_embedding), face_id=face.pk, **ids)
                except SealBroken:
                    raise _refused(face, "does not open for its row") from None
                face.sealed_embedding = sealer.seal_bytes(
                    plain, associated_data=face_associated_data(face_id=face.pk, **ids)
                )
                faces.append(face)
        SubjectKey.objects.bulk_create(keys)
        Subject.objects.bulk_update(subjects, ["sealed_metadata"])
        Face.objects.bulk_update(faces, ["sealed_embedding"])


def seal_under_the_gallery_subkey(apps, schema_editor):
    Subject, SubjectKey, Face = (apps.get_model("matching", name) for name in ("Subject", "SubjectKey", "Face"))
    current, sealers = _gallery_subkeys()
    for subjects in _batches(Subject):
        faces_by_subject = _faces_of(Face, subjects)
        wrapped = {
            key.subject_id: key
            for key in SubjectKey.objects.filter(subject_id__in=[subject.pk for subject in subjects])
        }
        faces = []
        for subject in subjects:
            ids = {"gallery_id": subject.gallery_id, "subject_id": subject.pk}
            key = wrapped.get(subject.pk)
            sealer = open_subject_key(
                sealers, None if key is None else bytes(key.wrapped_key), key.key_id if key else "", **ids
            )
            subject.metadata = open_metadata(sealer, bytes(subject.sealed_metadata), **ids)
            for face in faces_by_subject.get(subject.pk, []):
                plain = open_face(sealer, bytes(face.sealed_embedding), face_id=face.pk, **ids)
                face.sealed_embedding = current.seal_bytes(
                    plain, associated_data=face_associated_data(face_id=face.pk, **ids)
                )
                face.key_id = current.key_id
                faces.append(face)
        Subject.objects.bulk_update(subjects, ["metadata"])
        Face.objects.bulk_update(faces, ["sealed_embedding", "key_id"])
    SubjectKey.objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("matching", "0002_subject_keys"),
    ]

    operations = [
        migrations.RunPython(seal_under_subject_keys, seal_under_the_gallery_subkey),
    ]
