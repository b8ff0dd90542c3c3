"""Each worker's copy of a gallery: loaded once, brought up to date by what changed, and the search
itself (exact and approximate)."""

import numpy as np
import pytest
from django.conf import settings

from matching.galleries import gallery_forget
from matching.gallery_index import cached_gallery, gallery_forget_cached, gallery_search, gallery_size
from matching.models import REMOVALS_KEPT, Gallery
from matching.search import ExactIndex, IvfIndex
from tests.matching.conftest import synthetic_subjects

pytestmark = [pytest.mark.django_db]


def fresh(gallery):
    return Gallery.objects.get(pk=gallery.pk)


def vectors_of(count, seed=0):
    return np.random.default_rng(seed).standard_normal((count, 128)).astype(np.float32)


@pytest.fixture
def gallery(client_row):
    synthetic_subjects(client_row, 50)
    loaded = Gallery.objects.get(client=client_row)
    gallery_forget_cached(loaded.pk)
    return loaded


def test_a_gallery_is_loaded_once_then_searched_from_memory(gallery, django_assert_max_num_queries):
    assert gallery_size(gallery) == 50
    with django_assert_max_num_queries(0):
        gallery_search(gallery, [vectors_of(1)[0]], 3)
    assert cached_gallery(gallery.pk).full_loads == 1


def test_a_change_made_elsewhere_is_picked_up_without_reloading_the_gallery(gallery, client_row):
    gallery_size(gallery)
    # Another worker enrolls and forgets: this one sees only the gallery's new version.
    synthetic_subjects(client_row, 2, seed=5, prefix="new")
    gallery_forget(client=client_row, subject="synthetic-7")

    size, found = gallery_search(fresh(gallery), [vectors_of(2, seed=5)[1]], 1)

    copy = cached_gallery(gallery.pk)
    assert size == 51
    assert (copy.full_loads, copy.refreshes) == (1, 1)
    assert found[0][0].subject_id == client_row.gallery.subjects.get(name="new-1").pk
    assert found[0][0].distance == pytest.approx(0, abs=1e-5)


def test_a_worker_that_fell_too_far_behind_reloads_the_whole_gallery(gallery, client_row):
    gallery_size(gallery)
    stale = fresh(gallery)
    stale.removals_from, stale.version = stale.version + 1, stale.version + 2
    stale.save()
    assert stale.removals_since(gallery.version) is None

    assert gallery_size(stale) == 50
    assert cached_gallery(gallery.pk).full_loads == 2


def test_a_gallery_remembers_a_bounded_number_of_removals(gallery):
    row = fresh(gallery)
    row.record_change(removed_subject_ids=range(REMOVALS_KEPT))  # a bulk removal fills what it keeps
    for subject_id in range(REMOVALS_KEPT, REMOVALS_KEPT + 5):
        row.record_change(removed_subject_ids=[subject_id])
    assert len(row.removals) == REMOVALS_KEPT
    assert row.removals_since(row.version - 3) == [REMOVALS_KEPT + 2, REMOVALS_KEPT + 3, REMOVALS_KEPT + 4]
    assert row.removals_since(gallery.version) is None


def test_another_gallerys_change_leaves_this_copy_alone(gallery, other_client):
    from credentials.services import client_token_find
    from matching.galleries import owner_of

    gallery_size(gallery)
    other = owner_of(client_token_find(raw=other_client._credentials["HTTP_X_AUTH_TOKEN"]))
    synthetic_subjects(other, 3)
    gallery_size(fresh(gallery))
    copy = cached_gallery(gallery.pk)
    assert (copy.full_loads, copy.refreshes) == (1, 0)


@pytest.mark.parametrize("kind", [ExactIndex, IvfIndex])
def test_an_index_finds_the_nearest_subjects_and_takes_changes_in_place(kind):
    vectors = vectors_of(300)
    index = kind(np.arange(300), vectors)
    assert [n.subject_id for n in index.search(vectors[42], 1)] == [42]

    index.remove(42)
    assert 42 not in [n.subject_id for n in index.search(vectors[42], 5)]
    index.upsert(1000, vectors[42])
    index.upsert(7, vectors[8])
    assert index.search(vectors[42], 1)[0].subject_id == 1000
    assert {n.subject_id for n in index.search(vectors[8], 2)} == {7, 8}
    assert len(index) == 300


def test_the_exact_index_grows_past_its_room(gallery):
    index = ExactIndex(np.arange(10), vectors_of(10))
    more = vectors_of(100, seed=1)
    for i, vector in enumerate(more):
        index.upsert(100 + i, vector)
    assert len(index) == 110
    assert index.search(more[99], 1)[0].subject_id == 199


def test_the_approximate_index_finds_what_exact_search_finds():
    rows = vectors_of(20_000)
    exact, approximate = ExactIndex(np.arange(20_000), rows), IvfIndex(np.arange(20_000), rows)
    # Probes near enrolled rows, as a face of an enrolled person is.
    probes = rows[:200] + 0.3 * vectors_of(200, seed=9)
    agree = sum(exact.search(p, 1)[0].subject_id == approximate.search(p, 1)[0].subject_id for p in probes)
    assert agree / len(probes) >= 0.99


def test_the_approximate_index_is_used_only_past_its_size_when_asked(gallery, settings):
    settings.FACENITION_GALLERY_INDEX = "ivf"
    settings.FACENITION_GALLERY_IVF_MIN_SUBJECTS = 40
    gallery_size(gallery)
    assert cached_gallery(gallery.pk).index.kind == "ivf"
    gallery_forget_cached(gallery.pk)
    settings.FACENITION_GALLERY_IVF_MIN_SUBJECTS = 60
    gallery_size(gallery)
    assert cached_gallery(gallery.pk).index.kind == "exact"


def test_a_subjects_row_is_the_mean_of_its_faces_however_they_are_fetched(client_row, monkeypatch):
    import matching.gallery_index as gallery_index
    from matching.galleries import gallery_enroll_embeddings
    from matching.search import unit_rows

    faces = {f"person-{i}": vectors_of(1 + i % 4, seed=i) for i in range(12)}
    gallery_enroll_embeddings(
        client=client_row, subjects=faces.items(), model_name=settings.FACENITION_MODEL, detector_name="dlib"
    )
    gallery = Gallery.objects.get(client=client_row)
    expected = {name: unit_rows(vectors.astype(np.float64).mean(axis=0)) for name, vectors in faces.items()}
    pk_of = dict(gallery.subjects.values_list("name", "pk"))

    for chunk in (3, 5, 1000):
        monkeypatch.setattr(gallery_index, "FETCH_CHUNK", chunk)
        ids, rows = gallery_index.subject_centroids(gallery.pk, gallery_index._face_rows(gallery.pk), 12)
        row_of = {int(pk): row for pk, row in zip(ids, rows, strict=False)}
        for name, mean in expected.items():
            np.testing.assert_allclose(row_of[pk_of[name]], mean, atol=1e-6)


def test_an_outgrown_matrix_is_zeroed_before_it_is_freed():
    index = ExactIndex(np.arange(10), vectors_of(10))
    outgrown = index._rows
    for i, vector in enumerate(vectors_of(40, seed=1)):
        index.upsert(100 + i, vector)
    assert index._rows is not outgrown
    assert not outgrown.any()


def test_a_copy_replaced_by_a_full_reload_is_zeroed(gallery, client_row):
    gallery_size(gallery)
    replaced = cached_gallery(gallery.pk).index._rows
    gallery_forget(client=client_row, subject="synthetic-7")
    stale = fresh(gallery)
    stale.removals_from = stale.version  # this worker's copy is too far behind to catch up
    stale.save()

    assert gallery_size(fresh(gallery)) == 49

    assert cached_gallery(gallery.pk).full_loads == 2
    assert not replaced.any()


def test_an_evicted_copy_is_zeroed(gallery, other_client, settings):
    """A copy of the worker's own (no snapshot folder); a snapshot's eviction is in test_gallery_snapshots."""
    from credentials.models import Client

    settings.FACENITION_GALLERY_SNAPSHOT_DIR = ""
    settings.FACENITION_GALLERY_CACHE_GALLERIES = 1
    gallery_size(gallery)
    evicted = cached_gallery(gallery.pk)
    rows = evicted.index._rows
    other = Client.objects.exclude(pk=gallery.client_id).get()
    synthetic_subjects(other, 5, seed=3)

    gallery_size(Gallery.objects.get(client=other))

    assert cached_gallery(gallery.pk) is None
    assert not rows.any()
    # A request that held the evicted copy meanwhile searches the gallery's current one.
    assert gallery_size(gallery) == 50


def test_a_subject_removed_from_the_approximate_index_leaves_no_row_in_its_memory():
    import faiss

    index = IvfIndex(np.arange(400), vectors_of(400))
    lists = index._index.invlists
    group = next(number for number in range(index.lists) if lists.list_size(number) >= 2)
    size = lists.list_size(group)
    last = int(faiss.rev_swig_ptr(lists.get_ids(group), size)[-1])
    memory = faiss.rev_swig_ptr(lists.get_codes(group), size * lists.code_size).reshape(size, lists.code_size)
    assert memory[-1].any()

    index.remove(last)

    # faiss shortened the group without clearing the row past its new end: the removed one.
    assert lists.list_size(group) == size - 1
    assert not memory[-1].any()


def test_the_exact_index_finds_each_subjects_row_through_removals_and_reuse():
    vectors = vectors_of(20)
    index = ExactIndex(np.arange(100, 120), vectors)
    index.remove(105)  # its row is free, then given to a newcomer
    index.upsert(500, vectors[5])
    index.upsert(105, vectors[6])  # back, in another row
    index.remove(500)
    index.upsert(501, vectors[7])

    assert index.row_of(500) is None
    assert index.row_of(105) not in (None, index.row_of(501), index.row_of(106))
    assert len(index) == 21
    assert index.search(vectors[6], 2)[0].subject_id in (105, 106)
    assert {n.subject_id for n in index.search(vectors[7], 3)} >= {107, 501}
