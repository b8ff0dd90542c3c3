import pytest

from tests.matching.conftest import synthetic_subjects

pytestmark = [pytest.mark.django_db]


def subjects(client, **fields):
    response = client.post("/gallery/subjects", fields, format="json")
    assert response.status_code == 200, response.json()
    return response.json()


def test_subjects_are_listed_by_name_with_their_face_counts(authed, client_row):
    synthetic_subjects(client_row, 3)
    body = subjects(authed)
    assert body["total"] == 3 and body["page"] == 1 and body["page_size"] == 50
    assert [s["subject"] for s in body["subjects"]] == ["synthetic-0", "synthetic-1", "synthetic-2"]
    assert all(s["faces"] == 1 and len(s["face_ids"]) == 1 for s in body["subjects"])


def test_subjects_are_paginated(authed, client_row):
    synthetic_subjects(client_row, 25)
    pages = [subjects(authed, page=page, page_size=10) for page in (1, 2, 3, 4)]
    assert [len(page["subjects"]) for page in pages] == [10, 10, 5, 0]
    names = [s["subject"] for page in pages for s in page["subjects"]]
    assert len(set(names)) == 25 and names == sorted(names)


def test_an_empty_gallery_lists_nothing(authed):
    assert subjects(authed) == {"ok": True, "page": 1, "page_size": 50, "total": 0, "subjects": []}


def test_another_clients_subjects_are_invisible(authed, client_row, other_client):
    synthetic_subjects(client_row, 3)
    assert subjects(other_client)["total"] == 0


@pytest.mark.parametrize("fields", [{"page": 0}, {"page_size": 0}, {"page_size": 501}, {"page": "x"}])
def test_bad_paging_is_refused_by_name(authed, fields):
    response = authed.post("/gallery/subjects", fields, format="json")
    assert response.status_code == 400
    assert response.json()["error"].startswith(next(iter(fields)) + ":")


@pytest.mark.parametrize("page", [10**9 + 1, 2**54, 10**30])
def test_a_page_beyond_the_bound_is_refused_with_the_bound(authed, page):
    response = authed.post("/gallery/subjects", {"page": page}, format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["error"] == "page: Ensure this value is less than or equal to 1000000000."
