import pytest


def distinct(photos):
    """Some files are the same photo at another resolution; those prove nothing as a second photo."""
    return [p for p in photos if "480p" not in p.file and "1080p" not in p.file]


@pytest.fixture(scope="session")
def gallery_people(photos_by_identity):
    """The 10 people with the most photos, to enroll (each a list of distinct photos, labels.csv order),
    and the 5 others, never enrolled."""
    people = {identity: distinct(photos) for identity, photos in photos_by_identity.items()}
    ranked = sorted(people, key=lambda identity: (-len(people[identity]), identity))
    assert len(ranked) >= 15, "the shared face set should have 15 people"
    return {identity: people[identity] for identity in ranked[:10]}, {
        identity: people[identity] for identity in ranked[10:15]
    }


def gallery_enroll(client, subject, photos, **fields):
    return client.post(
        "/gallery/enroll", {"subject": subject, "image": [p.b64() for p in photos], **fields}, format="json"
    )


def gallery_identify(client, photo, **fields):
    return client.post("/gallery/identify", {"image": photo.b64(), **fields}, format="json")


@pytest.fixture
def enrolled_gallery(authed, gallery_people, pipeline_reads_each_photo_once):
    """The client's gallery with 2 photos of each of the 10 people; returns the photos not enrolled.

    Each person's first photo and the next one the consistency check accepts, as a client would
    do when told that a second photo does not fit: deepface-c's first two photos are 0.075 apart,
    beyond level 1 (the one refusal among the 10)."""
    enrolled, _ = gallery_people
    probes, refused = {}, []
    for identity, photos in enrolled.items():
        for second in photos[1:]:
            response = gallery_enroll(authed, identity, [photos[0], second])
            if response.status_code == 201:
                break
            assert response.json()["error"].startswith("image[1] does not show the same person"), response.json()
            refused.append(second.file)
        assert response.status_code == 201, response.json()
        probes[identity] = [p for p in photos[1:] if p is not second]
    assert len(refused) <= 1, refused
    return probes


@pytest.fixture
def other_client():
    from rest_framework.test import APIClient

    from credentials.services import client_token_issue

    _, raw = client_token_issue(name="another client")
    client = APIClient()
    client.credentials(HTTP_X_AUTH_TOKEN=raw)
    return client


@pytest.fixture
def client_row(client_token):
    """The owner of the `authed` client's gallery."""
    from credentials.services import client_token_find
    from matching.galleries import owner_of

    return owner_of(client_token_find(raw=client_token))


def synthetic_subjects(owner, count, *, seed=0, prefix="synthetic"):
    """Adds `count` subjects of one random unit vector each: far from every real face."""
    import numpy as np
    from django.conf import settings

    from matching.galleries import gallery_enroll_embeddings

    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((count, 128)).astype(np.float32)
    return gallery_enroll_embeddings(
        client=owner,
        subjects=((f"{prefix}-{i}", [vector]) for i, vector in enumerate(vectors)),
        model_name=settings.FACENITION_MODEL,
        detector_name="dlib",
    )


@pytest.fixture(autouse=True)
def snapshot_folder(settings, tmp_path_factory):
    """Each test's gallery snapshots in a folder of its own in memory, as the host's would be;
    removed, zeroed, after the test. The workers' copies it mapped are dropped first."""
    import shutil
    import tempfile
    from pathlib import Path

    from matching import gallery_index

    folder = Path(tempfile.mkdtemp(prefix="facenition-test-snapshots-", dir="/dev/shm"))
    settings.FACENITION_GALLERY_SNAPSHOT_DIR = str(folder)
    yield folder
    for gallery_id in list(gallery_index._galleries):
        gallery_index.gallery_forget_cached(gallery_id)
    shutil.rmtree(folder, ignore_errors=True)
