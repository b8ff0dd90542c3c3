"""The Django-free scheme under enrollment/protection, where its behaviour is not visible through
the endpoints."""

import json
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
import json, os
from enrollment.protection import code
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


def test_a_worker_forked_after_the_warm_up_can_decode():
    """gunicorn warms up in its master and forks workers from it: the code must survive the fork."""
    result = subprocess.run(
        [sys.executable, "-c", FORK_AFTER_WARM_UP], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [0, 0], result.stderr
