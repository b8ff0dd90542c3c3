"""Rotating the token key: retired keys still open their tokens, /rotate and reseal_tokens move tokens
to the current key, and SECRET_KEY has nothing to do with any of it."""

import io
from io import StringIO

import pytest
from django.core.management import call_command

from enrollment.models import Enrollment
from facenition.keyring import TokenKey

from .conftest import authenticate, images

pytestmark = [pytest.mark.django_db, pytest.mark.faces]

OLD = "the token key this server started with (48 characters)"
NEW = "the token key an operator rotated to later, also long"


def key_id(secret):
    return TokenKey(secret.encode()).key_id.hex()


@pytest.fixture
def old_key(settings):
    settings.FACENITION_TOKEN_KEY = OLD
    settings.FACENITION_RETIRED_TOKEN_KEYS = ""


def rotate_to_new(settings, retire_old=True):
    settings.FACENITION_TOKEN_KEY = NEW
    settings.FACENITION_RETIRED_TOKEN_KEYS = OLD if retire_old else ""


def authenticated(authed, token, people):
    response = authenticate(authed, token, people("deepface-a")[6:7])
    assert response.status_code == 200, response.json()
    return response.json()["authenticated"]


def test_changing_secret_key_alone_breaks_nothing(settings, old_key, authed, enroll, people):
    token = enroll("deepface-a")["token"]

    settings.SECRET_KEY = "a different django secret key, as long as it needs to be"

    assert authenticated(authed, token, people) is True
    assert authed.post("/revoke", {"token": token}, format="json").status_code == 200


def test_a_retired_key_keeps_old_tokens_working_and_rotate_moves_them_to_the_new_key(
    settings, old_key, authed, enroll, people
):
    old = enroll("deepface-a")
    assert Enrollment.objects.get(pk=old["id"]).key_id == key_id(OLD)

    rotate_to_new(settings)
    assert authenticated(authed, old["token"], people) is True
    response = authed.post(
        "/rotate", {"token": old["token"], "image": images(*people("deepface-a")[3:6])}, format="json"
    )
    assert response.status_code == 200, response.json()
    new = response.json()
    assert Enrollment.objects.get(pk=new["id"]).key_id == key_id(NEW)

    settings.FACENITION_RETIRED_TOKEN_KEYS = ""  # the old key is gone for good
    assert authenticated(authed, new["token"], people) is True


def test_without_the_retired_key_an_old_token_is_answered_409_naming_its_key(settings, old_key, authed, enroll, people):
    token = enroll("deepface-a")["token"]

    rotate_to_new(settings, retire_old=False)

    response = authenticate(authed, token, people("deepface-a")[6:7])
    assert response.status_code == 409
    assert f"sealed under token key {key_id(OLD)}, which this server no longer holds" in response.json()["error"]
    assert "ask the operator" in response.json()["error"]
    assert authed.post("/revoke", {"token": token}, format="json").status_code == 409


def test_reseal_tokens_moves_tokens_to_the_new_key_without_the_face(
    settings, old_key, authed, enroll, people, monkeypatch
):
    tokens = [enroll("deepface-a")["token"], enroll("deepface-b")["token"]]
    rotate_to_new(settings)
    out, err = StringIO(), StringIO()
    listing = StringIO()
    call_command("token_keys", stdout=listing)
    assert f"current {key_id(NEW)}: 0 live token(s)" in listing.getvalue()
    assert f"retired {key_id(OLD)}: 2 live token(s)" in listing.getvalue()

    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join([*tokens, "fit2_garbage"]) + "\n"))
    call_command("reseal_tokens", stdout=out, stderr=err)

    resealed = out.getvalue().splitlines()
    assert len(resealed) == 3 and resealed[2].startswith("error: token: not a valid identity token")
    assert "2 token(s) re-sealed under key " + key_id(NEW) in err.getvalue() and "1 refused" in err.getvalue()
    assert authenticate(authed, tokens[0], people("deepface-a")[6:7]).status_code == 400
    settings.FACENITION_RETIRED_TOKEN_KEYS = ""
    assert authenticated(authed, resealed[0], people) is True
    assert authenticate(authed, resealed[1], people("deepface-b")[3:4]).json()["authenticated"] is True
    assert set(Enrollment.objects.values_list("key_id", flat=True)) == {key_id(NEW)}


def test_reseal_tokens_run_again_after_its_output_was_lost_prints_tokens_that_work(
    settings, old_key, authed, enroll, people, monkeypatch
):
    tokens = [enroll("deepface-a")["token"], enroll("deepface-b")["token"]]
    rotate_to_new(settings)
    lines = "\n".join(tokens) + "\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(lines))
    lost = StringIO()
    call_command("reseal_tokens", stdout=lost, stderr=StringIO())

    out, err = StringIO(), StringIO()
    monkeypatch.setattr("sys.stdin", io.StringIO(lines))
    call_command("reseal_tokens", stdout=out, stderr=err)

    resealed = out.getvalue().splitlines()
    assert "0 refused" in err.getvalue()
    assert resealed == lost.getvalue().splitlines()
    settings.FACENITION_RETIRED_TOKEN_KEYS = ""
    assert authenticated(authed, resealed[0], people) is True
    assert authenticate(authed, resealed[1], people("deepface-b")[3:4]).json()["authenticated"] is True


class UnwritableOutput(StringIO):
    def write(self, text):
        raise OSError("the disk is full")


def test_reseal_tokens_that_cannot_write_the_new_token_leaves_the_old_one_working(
    settings, old_key, authed, enroll, people, monkeypatch
):
    token = enroll("deepface-a")["token"]
    rotate_to_new(settings)
    monkeypatch.setattr("sys.stdin", io.StringIO(token + "\n"))

    with pytest.raises(OSError):
        call_command("reseal_tokens", stdout=UnwritableOutput(), stderr=StringIO())

    assert authenticated(authed, token, people) is True
    assert set(Enrollment.objects.values_list("key_id", flat=True)) == {key_id(OLD)}
