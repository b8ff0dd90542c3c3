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
