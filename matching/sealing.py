"""Gallery data at rest, crypto-shredded: each subject has its own random 256-bit data key, stored
only wrapped (AES-GCM) under the token key's gallery sub-key (`facenition.keyring`, the
one place sub-keys are derived); the subject's faces and metadata are sealed under that data key.
Deleting a subject's wrapped key erases its faces and metadata wherever a copy of their ciphertext
survives (PostgreSQL's free space, its WAL, a dump of the face table): the token key alone opens
none of it.

Django-free. Everything is sealed with AES-256-GCM (the `cryptography` package): a 12-byte random
nonce, then the ciphertext and its 16-byte tag. A sealed embedding is 540 bytes, nothing of which
reads as a float. The associated data names the row (gallery, subject, and face), is authenticated
but not stored in the blob, so a ciphertext or a wrapped key copied onto another row, of the same
person or another, fails to open instead of moving a face.
"""

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12
DATA_KEY_BYTES = 32
EMBEDDING_DTYPE = np.dtype("<f4")


class SealBroken(ValueError):
    """Sealed data does not open: another row's ciphertext, a wrong or erased key, or tampering."""


def face_associated_data(*, gallery_id: int, subject_id: int, face_id: object) -> bytes:
    return f"facenition gallery face v1|gallery {gallery_id}|subject {subject_id}|face {face_id}".encode()


def subject_key_associated_data(*, gallery_id: int, subject_id: int) -> bytes:
    return f"facenition gallery subject key v1|gallery {gallery_id}|subject {subject_id}".encode()


def metadata_associated_data(*, gallery_id: int, subject_id: int) -> bytes:
    return f"facenition gallery subject metadata v1|gallery {gallery_id}|subject {subject_id}".encode()


@dataclass(frozen=True)
class Sealer:
    """Seals and opens under one AES-256 key: a token key's gallery sub-key (`key_id` names that
    token key), which wraps subject keys, or a subject's own data key (`key_id` empty)."""

    key: bytes = field(repr=False)
    key_id: str = ""
    _cipher: AESGCM = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_cipher", AESGCM(self.key))

    def seal_bytes(self, plain: bytes, *, associated_data: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._cipher.encrypt(nonce, plain, associated_data)

    def open_bytes(self, sealed: bytes, *, associated_data: bytes, what: str = "") -> bytes:
        """The plain bytes; SealBroken, naming `what` was sealed when given, if they do not open here."""
        sealed = bytes(sealed)
        try:
            return self._cipher.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], associated_data)
        except InvalidTag:
            raise SealBroken(
                f"{what} does not open for its row: it was altered or moved in the database"
                if what
                else "the sealed data does not open for this row"
            ) from None

    def seal(self, embedding: np.ndarray, *, associated_data: bytes) -> bytes:
        plain = np.ascontiguousarray(embedding, dtype=EMBEDDING_DTYPE).tobytes()
        return self.seal_bytes(plain, associated_data=associated_data)

    def open(self, sealed: bytes, *, associated_data: bytes) -> np.ndarray:
        return np.frombuffer(self.open_bytes(sealed, associated_data=associated_data), dtype=EMBEDDING_DTYPE)


def wrap_subject_key(wrapper: Sealer, sealer: Sealer, *, gallery_id: int, subject_id: int) -> bytes:
    """The subject's data key (that of `sealer`) sealed under `wrapper`, a token key's gallery sub-key."""
    return wrapper.seal_bytes(
        sealer.key, associated_data=subject_key_associated_data(gallery_id=gallery_id, subject_id=subject_id)
    )


def new_subject_key(wrapper: Sealer, *, gallery_id: int, subject_id: int) -> tuple[Sealer, bytes]:
    """A fresh random data key for a subject: (its sealer, the key wrapped under `wrapper`)."""
    sealer = Sealer(key=os.urandom(DATA_KEY_BYTES))
    return sealer, wrap_subject_key(wrapper, sealer, gallery_id=gallery_id, subject_id=subject_id)


def open_subject_key(
    wrappers: Mapping[str, Sealer], wrapped: bytes | None, key_id: str, *, gallery_id: int, subject_id: int
) -> Sealer:
    """The sealer of a subject's data key, unwrapped by the token key that wrapped it (`key_id`)."""
    if wrapped is None:
        raise SealBroken(f"subject {subject_id} has no key: its faces were forgotten")
    wrapper = wrappers.get(key_id)
    if wrapper is None:
        raise SealBroken(
            f"subject {subject_id}'s key was wrapped under a token key the server no longer has (key id {key_id})"
        )
    key = wrapper.open_bytes(
        wrapped,
        associated_data=subject_key_associated_data(gallery_id=gallery_id, subject_id=subject_id),
        what=f"subject {subject_id}'s key",
    )
    return Sealer(key=key)


def open_face(sealer: Sealer, sealed: bytes, *, gallery_id: int, subject_id: int, face_id: object) -> bytes:
    """A face's embedding as little-endian float32 bytes, opened with its subject's sealer."""
    return sealer.open_bytes(
        sealed,
        associated_data=face_associated_data(gallery_id=gallery_id, subject_id=subject_id, face_id=face_id),
        what=f"face {face_id}'s sealed embedding",
    )


def seal_metadata(sealer: Sealer, metadata: dict[str, Any], *, gallery_id: int, subject_id: int) -> bytes:
    """The metadata sealed; empty for none, so that a subject enrolled without any costs no extra write."""
    if not metadata:
        return b""
    plain = json.dumps(metadata, separators=(",", ":"), ensure_ascii=False).encode()
    return sealer.seal_bytes(
        plain, associated_data=metadata_associated_data(gallery_id=gallery_id, subject_id=subject_id)
    )


def open_metadata(sealer: Sealer, sealed: bytes, *, gallery_id: int, subject_id: int) -> dict[str, Any]:
    if not sealed:
        return {}
    plain = sealer.open_bytes(
        sealed,
        associated_data=metadata_associated_data(gallery_id=gallery_id, subject_id=subject_id),
        what=f"subject {subject_id}'s metadata",
    )
    return json.loads(plain)
