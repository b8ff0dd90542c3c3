"""The Django-free scheme under enrollment/protection, where its behaviour is not visible through
the endpoints."""

import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

from enrollment.protection import IdentityToken, MalformedToken, commit, open_commitment, token_decode, token_encode

ROOT = Path(__file__).resolve().parent.parent.parent
SECRET = b"a server secret of some length " * 2


def some_token(accuracy=4):
    enrollment_id = uuid.uuid4()
    embedding = np.random.default_rng(7).standard_normal(128)
    commitment = commit(embedding=embedding, enrollment_id=enrollment_id.bytes, secret=SECRET)
    return embedding, IdentityToken(enrollment_id, accuracy, 1_700_000_000, 1_800_000_000, commitment)


def test_a_token_reads_back_as_issued():
    _, token = some_token(accuracy=6)
    assert token_decode(token_encode(token, secret=SECRET), secret=SECRET) == token


def test_a_token_is_refused_under_another_server_secret():
    _, token = some_token()
    with pytest.raises(MalformedToken):
        token_decode(token_encode(token, secret=SECRET), secret=b"another secret entirely, also long")


def test_the_enrolled_embedding_opens_its_commitment_and_a_stranger_does_not():
    embedding, token = some_token()
    opened = dict(enrollment_id=token.enrollment_id.bytes, secret=SECRET)
    assert open_commitment(token.commitment, embedding=embedding, **opened) == 0
    stranger = np.random.default_rng(8).standard_normal(128)
    assert open_commitment(token.commitment, embedding=stranger, **opened) is None
    # The same face under another server secret does not open it either.
    assert (
        open_commitment(
            token.commitment, embedding=embedding, enrollment_id=token.enrollment_id.bytes, secret=b"x" * 40
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
