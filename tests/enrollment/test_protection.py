"""The Django-free scheme under enrollment/protection, where its behaviour is not visible through
the endpoints."""

import base64
import hashlib
import hmac
import json
import shutil
import struct
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

from enrollment.protection import (
    IdentityToken,
    MalformedToken,
    UnknownKey,
    code,
    commit,
    open_commitment,
    token_decode,
    token_encode,
    token_reseal,
)
from enrollment.protection.binarisation import DEPLOYED, template_bits
from facenition.keyring import HELPER_DATA, KEY_CHECK, PURPOSES, TOKEN_MAC, Keyring, TokenKey

ROOT = Path(__file__).resolve().parent.parent.parent
SECRET = b"a server secret of some length " * 2
NEWER = b"a newer server secret, just as long" * 2
KEY = TokenKey(SECRET)
POPULATION = DEPLOYED["Dlib"]


def some_token(accuracy=4, key=KEY):
    enrollment_id = uuid.uuid4()
    embedding = np.random.default_rng(7).standard_normal(128)
    commitment = commit(embedding=embedding, enrollment_id=enrollment_id.bytes, key=key, population=POPULATION)
    return embedding, IdentityToken(enrollment_id, accuracy, 1_700_000_000, 1_800_000_000, commitment)


def test_a_token_reads_back_as_issued_with_the_key_that_sealed_it():
    _, token = some_token(accuracy=6)
    decoded = token_decode(token_encode(token, key=KEY), keyring=Keyring(SECRET))
    assert decoded == token
    assert decoded.key_id == KEY.key_id and decoded.key == KEY


def test_a_token_is_refused_under_another_server_secret():
    _, token = some_token()
    with pytest.raises(UnknownKey):
        token_decode(token_encode(token, key=KEY), keyring=Keyring(b"another secret entirely, also long"))


def test_a_token_whose_key_id_was_altered_is_refused():
    _, token = some_token()
    raw = token_encode(token, key=KEY)
    body = bytearray(base64.urlsafe_b64decode(raw[5:] + "=" * (-len(raw[5:]) % 4)))
    body[1:5] = TokenKey(NEWER).key_id
    forged = "fit2_" + base64.urlsafe_b64encode(bytes(body)).rstrip(b"=").decode()
    with pytest.raises(MalformedToken, match="signature"):
        token_decode(forged, keyring=Keyring(NEWER, [SECRET]))


def test_a_token_has_one_text_only_its_last_character_cannot_be_swapped():
    _, token = some_token()
    raw = token_encode(token, key=KEY)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    accepted = []
    for character in alphabet:
        try:
            token_decode(raw[:-1] + character, keyring=Keyring(SECRET))
        except MalformedToken:
            continue
        accepted.append(character)
    assert accepted == [raw[-1]]


def test_every_purpose_has_a_sub_key_of_its_own_and_none_is_the_key():
    subkeys = [KEY.subkey(purpose) for purpose in PURPOSES] + [KEY.key_id]
    assert len(set(subkeys)) == len(subkeys) and SECRET not in subkeys
    assert TokenKey(NEWER).subkey(PURPOSES[0]) != KEY.subkey(PURPOSES[0])


def test_a_retired_key_still_opens_its_tokens_and_a_reseal_moves_them_to_the_current_key():
    embedding, token = some_token()
    raw = token_encode(token, key=KEY)
    keyring = Keyring(NEWER, [SECRET])
    old = token_decode(raw, keyring=keyring)
    assert old.key == KEY
    opened = dict(embedding=embedding, enrollment_id=token.enrollment_id.bytes, population=POPULATION)
    assert open_commitment(old.commitment, key=old.key, **opened) == 0

    _, resealed = token_reseal(old, key=keyring.current)
    new = token_decode(resealed, keyring=Keyring(NEWER))
    assert new.key_id == TokenKey(NEWER).key_id and new.commitment.seed == token.commitment.seed
    assert open_commitment(new.commitment, key=new.key, **opened) == 0
    assert open_commitment(new.commitment, key=KEY, **opened) is None


def fit1_token(embedding, secret):
    """A token as the server issued them before the keyring (no key id, sub-keys by plain HMAC),
    rebuilt from that version's construction."""
    key = TokenKey(secret)
    enrollment_id, seed, bch_key = uuid.uuid4(), b"s" * 16, code.random_key()
    helper = np.packbits(code.encode(bch_key) ^ template_bits(embedding, seed, POPULATION)).tobytes()
    stream = b"".join(
        hmac.new(key.legacy_subkey(HELPER_DATA), enrollment_id.bytes + seed + bytes([block]), hashlib.sha256).digest()
        for block in range(4)
    )
    sealed = bytes(a ^ b for a, b in zip(helper, stream, strict=True))
    check = hmac.new(
        key.legacy_subkey(KEY_CHECK), enrollment_id.bytes + np.packbits(bch_key).tobytes(), hashlib.sha256
    ).digest()
    body = struct.pack(">B16sBII", 1, enrollment_id.bytes, 4, 1_700_000_000, 1_800_000_000) + seed + sealed + check
    mac = hmac.new(key.legacy_subkey(TOKEN_MAC), body, hashlib.sha256).digest()
    return "fit1_" + base64.urlsafe_b64encode(body + mac).rstrip(b"=").decode()


def test_a_token_from_before_the_keyring_still_opens_under_its_key_current_or_retired():
    embedding = np.random.default_rng(7).standard_normal(128)
    raw = fit1_token(embedding, SECRET)

    for keyring in (Keyring(SECRET), Keyring(NEWER, [SECRET])):
        token = token_decode(raw, keyring=keyring)
        assert (token.version, token.key, token.key_id) == (1, KEY, b"")
        opened = dict(
            enrollment_id=token.enrollment_id.bytes, key=token.key, version=token.version, population=POPULATION
        )
        assert open_commitment(token.commitment, embedding=embedding, **opened) == 0
        stranger = np.random.default_rng(8).standard_normal(128)
        assert open_commitment(token.commitment, embedding=stranger, **opened) is None
    with pytest.raises(MalformedToken, match="signature"):
        token_decode(raw, keyring=Keyring(NEWER))
    with pytest.raises(MalformedToken, match="cannot be re-sealed"):
        token_reseal(token_decode(raw, keyring=Keyring(NEWER, [SECRET])), key=TokenKey(NEWER))


def test_the_enrolled_embedding_opens_its_commitment_and_a_stranger_does_not():
    embedding, token = some_token()
    opened = dict(enrollment_id=token.enrollment_id.bytes, key=KEY, population=POPULATION)
    assert open_commitment(token.commitment, embedding=embedding, **opened) == 0
    stranger = np.random.default_rng(8).standard_normal(128)
    assert open_commitment(token.commitment, embedding=stranger, **opened) is None
    # The same face under another server secret does not open it either.
    assert (
        open_commitment(
            token.commitment,
            embedding=embedding,
            enrollment_id=token.enrollment_id.bytes,
            key=TokenKey(b"x" * 40),
            population=POPULATION,
        )
        is None
    )


FORK_AFTER_WARM_UP = """
import json, os, sys
from enrollment.protection import code
code.use_cache_dir(sys.argv[1])
code.warm_up()
statuses = []
for _ in range(2):
    pid = os.fork()
    if pid == 0:
        for _ in range(3):
            code.decode(code.encode(code.random_key()))
        os._exit(0)
    statuses.append(os.waitpid(pid, 0)[1])
print(json.dumps(statuses))
"""


@pytest.mark.subprocess
def test_a_worker_forked_after_the_warm_up_can_decode(settings):
    """gunicorn warms up in its master and forks workers from it: the code must survive the fork."""
    result = subprocess.run(
        [sys.executable, "-c", FORK_AFTER_WARM_UP, str(Path(settings.DEEPFACE_HOME) / ".deepface" / "cache")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [0, 0], result.stderr


LOAD_FROM_CACHE = """
import hashlib, sys
import numpy as np
from enrollment.protection import code
code.use_cache_dir(sys.argv[1])
if sys.argv[2] == "cached-only":
    def refuse():
        raise SystemExit("the code was built, not loaded from the cache")
    code._build = refuse
bch = code.bch()
matrices = hashlib.sha256(np.asarray(bch.G).tobytes() + np.asarray(bch.H).tobytes()).hexdigest()
print(bch.k, bch.t, matrices)
"""


def in_a_new_process(cache_dir, mode):
    return subprocess.run(
        [sys.executable, "-c", LOAD_FROM_CACHE, str(cache_dir), mode],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def built_cache(tmp_path_factory):
    """A cache file written by a process that had to build the code."""
    folder = tmp_path_factory.mktemp("code-cache")
    built = in_a_new_process(folder, "build-if-needed")
    assert built.returncode == 0, built.stderr
    assert built.stdout.startswith("46 219 ")
    return next(folder.iterdir()), built.stdout


def test_a_new_process_loads_the_code_from_the_cache_the_first_one_wrote(built_cache, tmp_path):
    built_cache, built_code = built_cache
    assert built_cache.name == "bch-1023-439-galois-0.4.11.npz"
    shutil.copy(built_cache, tmp_path)
    loaded = in_a_new_process(tmp_path, "cached-only")
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout == built_code  # the same code: parameters, generator and parity-check matrices


def test_an_altered_cache_file_is_not_used_and_is_rebuilt(built_cache, tmp_path):
    built_cache, built_code = built_cache
    altered = tmp_path / built_cache.name
    content = bytearray(built_cache.read_bytes())
    content[-100] ^= 0xFF
    altered.write_bytes(bytes(content))
    refused = in_a_new_process(tmp_path, "cached-only")
    assert refused.returncode != 0
    assert "does not match its hash" in refused.stderr
    rebuilt = in_a_new_process(tmp_path, "build-if-needed")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert rebuilt.stdout == built_code
    assert altered.read_bytes() == built_cache.read_bytes()
