"""Commit to a face, and open the commitment with a later face."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from facenition.keyring import HELPER_DATA, KEY_CHECK, TokenKey

from . import code
from .binarisation import TEMPLATE_BITS, Population, template_bits
from .code import Bits

SEED_BYTES = 16
HELPER_BYTES = (TEMPLATE_BITS + 7) // 8

# Face model → accuracy level → the most bit errors a probe may need corrected: `calibrate_enrollment`'s
# fit on every person of the shared face set, 3-photo enrollments, to the levels' target false-match
# rates (matching.accuracy). For Dlib, a normal fitted to the impostor attempts' bit distances puts
# even the code's own limit (219) below the targets of levels 1-7, so they share it; level 8 is stricter.
# For SFace, whose cell width is fitted for it (binarisation.CELL_WIDTH), the fit puts the code's limit
# at level 8's target (1 in 1,162,747 at 219 bits): all levels share it.
ERRORS_ALLOWED = {
    "Dlib": {1: 219, 2: 219, 3: 219, 4: 219, 5: 219, 6: 219, 7: 219, 8: 207},
    "SFace": {1: 219, 2: 219, 3: 219, 4: 219, 5: 219, 6: 219, 7: 219, 8: 219},
}


# The first identity tokens (fit1) kept an HMAC of the key; fit2 tokens keep its hash, encrypted,
# which the server can re-seal under a new token key without the face.
LEGACY_VERSION = 1
CURRENT_VERSION = 2
_CHECK_BYTES = 32


@dataclass(frozen=True)
class Commitment:
    seed: bytes  # draws the token's rotation and salts its keystreams
    sealed_helper: bytes  # (codeword XOR template bits), encrypted under the token key
    key_check: bytes  # fit2: SHA-256 of the key, encrypted under the token key; fit1: HMAC of the key


def _subkey(key: TokenKey, purpose: str, version: int) -> bytes:
    return key.legacy_subkey(purpose) if version == LEGACY_VERSION else key.subkey(purpose)


def _keystream(subkey: bytes, enrollment_id: bytes, seed: bytes, length: int) -> Bits:
    blocks = (length + 31) // 32
    stream = b"".join(
        hmac.new(subkey, enrollment_id + seed + bytes([block]), hashlib.sha256).digest() for block in range(blocks)
    )
    return np.frombuffer(stream[:length], dtype=np.uint8)


def _xor(data: bytes, stream: Bits) -> bytes:
    return (np.frombuffer(data, dtype=np.uint8) ^ stream).tobytes()


def _helper_stream(key: TokenKey, version: int, enrollment_id: bytes, seed: bytes) -> Bits:
    return _keystream(_subkey(key, HELPER_DATA, version), enrollment_id, seed, HELPER_BYTES)


def _check_stream(key: TokenKey, enrollment_id: bytes, seed: bytes) -> Bits:
    return _keystream(key.subkey(KEY_CHECK), enrollment_id, seed, _CHECK_BYTES)


def helper_bits(commitment: Commitment, *, enrollment_id: bytes, key: TokenKey, version: int = CURRENT_VERSION) -> Bits:
    """The commitment's helper data in the clear: only the server, holding the key, can see it."""
    clear = _xor(commitment.sealed_helper, _helper_stream(key, version, enrollment_id, commitment.seed))
    return np.unpackbits(np.frombuffer(clear, dtype=np.uint8))[:TEMPLATE_BITS]


def _key_digest(key_bits: Bits, enrollment_id: bytes) -> bytes:
    return hashlib.sha256(b"facenition key check" + enrollment_id + np.packbits(key_bits).tobytes()).digest()


def _key_matches(commitment: Commitment, key_bits: Bits, *, enrollment_id: bytes, key: TokenKey, version: int) -> bool:
    if version == LEGACY_VERSION:
        expected = hmac.new(
            key.legacy_subkey(KEY_CHECK), enrollment_id + np.packbits(key_bits).tobytes(), hashlib.sha256
        ).digest()
        return hmac.compare_digest(expected, commitment.key_check)
    clear = _xor(commitment.key_check, _check_stream(key, enrollment_id, commitment.seed))
    return hmac.compare_digest(_key_digest(key_bits, enrollment_id), clear)


def commit(*, embedding: npt.ArrayLike, enrollment_id: bytes, key: TokenKey, population: Population) -> Commitment:
    """A fresh commitment to `embedding` under the token key `key` (facenition.keyring.TokenKey): new
    seed, new rotation, new BCH key. `enrollment_id` is bytes. `population`: the deployed statistics
    of the embedding's face model (`binarisation.DEPLOYED`), or the calibration's own fit."""
    seed = secrets.token_bytes(SEED_BYTES)
    bch_key = code.random_key()
    helper = np.packbits(code.encode(bch_key) ^ template_bits(embedding, seed, population)).tobytes()
    return Commitment(
        seed=seed,
        sealed_helper=_xor(helper, _helper_stream(key, CURRENT_VERSION, enrollment_id, seed)),
        key_check=_xor(_key_digest(bch_key, enrollment_id), _check_stream(key, enrollment_id, seed)),
    )


def reseal(commitment: Commitment, *, enrollment_id: bytes, old_key: TokenKey, new_key: TokenKey) -> Commitment:
    """The same commitment (seed, helper data, key) sealed under `new_key` instead of `old_key`; the
    face is not needed. Only fit2 commitments can be re-sealed: a fit1 one keeps an HMAC of its key,
    which cannot be moved to another key without the key itself."""
    helper = _xor(commitment.sealed_helper, _helper_stream(old_key, CURRENT_VERSION, enrollment_id, commitment.seed))
    check = _xor(commitment.key_check, _check_stream(old_key, enrollment_id, commitment.seed))
    return Commitment(
        seed=commitment.seed,
        sealed_helper=_xor(helper, _helper_stream(new_key, CURRENT_VERSION, enrollment_id, commitment.seed)),
        key_check=_xor(check, _check_stream(new_key, enrollment_id, commitment.seed)),
    )


def open_commitment(
    commitment: Commitment,
    *,
    embedding: npt.ArrayLike,
    enrollment_id: bytes,
    key: TokenKey,
    version: int = CURRENT_VERSION,
    population: Population,
) -> int | None:
    """How many bit errors `embedding` needed corrected to unlock the commitment, or None if it
    does not unlock it at all."""
    word = helper_bits(commitment, enrollment_id=enrollment_id, key=key, version=version) ^ template_bits(
        embedding, commitment.seed, population
    )
    bch_key, errors = code.decode(word)
    if bch_key is None or not _key_matches(commitment, bch_key, enrollment_id=enrollment_id, key=key, version=version):
        return None
    return errors


def accepts(errors: int | None, accuracy: int, model: str) -> bool:
    return errors is not None and errors <= ERRORS_ALLOWED[model][accuracy]
