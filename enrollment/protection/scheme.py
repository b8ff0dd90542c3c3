"""Commit to a face, and open the commitment with a later face."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import numpy as np

from . import code
from .binarisation import TEMPLATE_BITS, template_bits

SEED_BYTES = 16
HELPER_BYTES = (TEMPLATE_BITS + 7) // 8

# Accuracy level → the most bit errors a probe may need corrected; level 1 is the code's own limit.
# Calibrated by `scripts/calibrate_enrollment.py` on the shared face set with 3-photo enrollment
# (the table is in the README): level 4 must let through at least 95% of genuine attempts and no
# impostor attempt.
ERRORS_ALLOWED = {1: 219, 2: 212, 3: 204, 4: 196, 5: 188, 6: 180, 7: 172, 8: 164}


@dataclass(frozen=True)
class Commitment:
    seed: bytes  # draws the token's rotation and salts its keystream
    sealed_helper: bytes  # (codeword XOR template bits), encrypted under the server secret
    key_check: bytes  # HMAC of the key under the server secret


def _subkey(secret, purpose):
    return hmac.new(secret, b"facenition identity token: " + purpose, hashlib.sha256).digest()


def _keystream(secret, enrollment_id, seed):
    key = _subkey(secret, b"helper data")
    blocks = (HELPER_BYTES + 31) // 32
    stream = b"".join(
        hmac.new(key, enrollment_id + seed + bytes([block]), hashlib.sha256).digest() for block in range(blocks)
    )
    return np.frombuffer(stream[:HELPER_BYTES], dtype=np.uint8)


def _seal(helper, secret, enrollment_id, seed):
    packed = np.packbits(helper)
    return (packed ^ _keystream(secret, enrollment_id, seed)).tobytes()


def helper_bits(commitment, *, enrollment_id, secret):
    """The commitment's helper data in the clear: only the server, holding the secret, can see it."""
    sealed = np.frombuffer(commitment.sealed_helper, dtype=np.uint8)
    return np.unpackbits(sealed ^ _keystream(secret, enrollment_id, commitment.seed))[:TEMPLATE_BITS]


def _key_check(key_bits, secret, enrollment_id):
    return hmac.new(
        _subkey(secret, b"key check"), enrollment_id + np.packbits(key_bits).tobytes(), hashlib.sha256
    ).digest()


def commit(*, embedding, enrollment_id, secret):
    """A fresh commitment to `embedding`: new seed, new rotation, new key. `enrollment_id` is bytes."""
    seed = secrets.token_bytes(SEED_BYTES)
    key = code.random_key()
    helper = code.encode(key) ^ template_bits(embedding, seed)
    return Commitment(
        seed=seed,
        sealed_helper=_seal(helper, secret, enrollment_id, seed),
        key_check=_key_check(key, secret, enrollment_id),
    )


def open_commitment(commitment, *, embedding, enrollment_id, secret):
    """How many bit errors `embedding` needed corrected to unlock the commitment, or None if it
    does not unlock it at all."""
    word = helper_bits(commitment, enrollment_id=enrollment_id, secret=secret) ^ template_bits(
        embedding, commitment.seed
    )
    key, errors = code.decode(word)
    if key is None or not hmac.compare_digest(_key_check(key, secret, enrollment_id), commitment.key_check):
        return None
    return errors


def accepts(errors, accuracy):
    return errors is not None and errors <= ERRORS_ALLOWED[accuracy]
