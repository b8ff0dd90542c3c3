"""Embeddings at rest: each gallery face's embedding is sealed with AES-GCM (the `cryptography`
package) under the token key's gallery sub-key (`enrollment.protection.keyring`, the one place
sub-keys are derived), with associated data that names its own row.

Django-free. A sealed embedding is a 12-byte random nonce followed by the ciphertext of the 128
float32 values and the 16-byte tag: 540 bytes, nothing of which reads as a float. The associated
data (gallery, subject and face ids) is authenticated but not stored in the blob, so a ciphertext
copied onto another row, of the same person or another, fails to open instead of moving a face.
"""

import os
from dataclasses import dataclass, field

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12
EMBEDDING_DTYPE = np.dtype("<f4")


class SealBroken(ValueError):
    """The sealed embedding does not open: another row's ciphertext, a wrong key, or tampering."""


def face_associated_data(*, gallery_id: int, subject_id: int, face_id: object) -> bytes:
    return f"facenition gallery face v1|gallery {gallery_id}|subject {subject_id}|face {face_id}".encode()


@dataclass(frozen=True)
class EmbeddingSealer:
    """Seals and opens embeddings under one AES-256 key; `key_id` names the token key it came from."""

    key: bytes = field(repr=False)
    key_id: str = ""
    _cipher: AESGCM = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_cipher", AESGCM(self.key))

    def seal(self, embedding: np.ndarray, *, associated_data: bytes) -> bytes:
        plain = np.ascontiguousarray(embedding, dtype=EMBEDDING_DTYPE).tobytes()
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._cipher.encrypt(nonce, plain, associated_data)

    def open(self, sealed: bytes, *, associated_data: bytes) -> np.ndarray:
        return np.frombuffer(self.open_bytes(sealed, associated_data=associated_data), dtype=EMBEDDING_DTYPE)

    def open_bytes(self, sealed: bytes, *, associated_data: bytes) -> bytes:
        """The embedding's little-endian float32 bytes."""
        sealed = bytes(sealed)
        try:
            return self._cipher.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], associated_data)
        except InvalidTag:
            raise SealBroken("the sealed embedding does not open for this row") from None
