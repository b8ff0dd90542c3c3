import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model

from matching.models import Face, Gallery, Subject
from tests.matching.conftest import synthetic_subjects

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(user)
    return client


@pytest.fixture
def gallery(client_row):
    synthetic_subjects(client_row, 3, prefix="person")
    return Gallery.objects.get(client=client_row)


def test_admin_lists_galleries_with_their_subject_and_face_counts(admin_client, gallery):
    prefix = gallery.client.credentials.get().prefix
    listing = admin_client.get(f"/admin/matching/gallery/?q={prefix}").content.decode()
    assert str(gallery.client) in listing
    assert '<td class="field-subject_count">3</td>' in listing
    assert '<td class="field-face_count">3</td>' in listing


def test_admin_searches_subjects_and_never_shows_a_vector(admin_client, gallery):
    subject = Subject.objects.get(name="person-1")
    face = Face.objects.get(subject=subject)
    listing = admin_client.get("/admin/matching/subject/?q=person-1").content.decode()
    assert "person-1" in listing and "person-2" not in listing
    detail = admin_client.get(f"/admin/matching/subject/{subject.pk}/change/").content.decode()
    assert str(face.pk) in detail
    assert "sealed" not in detail.lower()
    assert bytes(face.sealed_embedding).hex()[:16] not in detail


def test_admin_forgets_subjects_through_the_service(admin_client, gallery):
    version = gallery.version
    chosen = Subject.objects.filter(name__in=["person-0", "person-2"])
    chosen_pks = [s.pk for s in chosen]
    response = admin_client.post(
        "/admin/matching/subject/",
        {"action": "forget_subjects", "_selected_action": [s.pk for s in chosen]},
    )
    assert response.status_code == 302
    assert list(Subject.objects.values_list("name", flat=True)) == ["person-1"]
    assert Face.objects.count() == 1
    assert Gallery.objects.get(pk=gallery.pk).version == version + 2
    logged = [entry.object_repr for entry in LogEntry.objects.all()]
    assert sorted(logged) == sorted(f"forgotten subject #{s}" for s in chosen_pks)


def test_admin_offers_no_plain_delete(admin_client, gallery):
    page = admin_client.get("/admin/matching/subject/").content.decode()
    assert "delete_selected" not in page
    assert "forget_subjects" in page
