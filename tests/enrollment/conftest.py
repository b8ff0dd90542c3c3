import pytest


@pytest.fixture
def people(photos_by_identity):
    """Looks up a person's photos by identity, in labels.csv order."""
    return photos_by_identity.__getitem__


def images(*photos):
    return [p.b64() for p in photos]


def generate(client, photos, **fields):
    return client.post("/generate", {"image": images(*photos), **fields}, format="json")


def authenticate(client, token, photos, **fields):
    return client.post("/authenticate", {"token": token, "image": images(*photos), **fields}, format="json")


@pytest.fixture
def enroll(authed, people):
    """Enrolls the first three photos of a person and returns the answer's body."""

    def enroll(identity, **fields):
        response = generate(authed, people(identity)[:3], **fields)
        assert response.status_code == 201, response.json()
        return response.json()

    return enroll


@pytest.fixture
def other_client():
    from rest_framework.test import APIClient

    from credentials.services import client_token_issue

    client = APIClient()
    client.credentials(HTTP_X_AUTH_TOKEN=client_token_issue(name="another client").raw)
    return client
