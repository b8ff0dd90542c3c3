"""The identity token's wire format: `fit2_` + base64url(fields ‖ HMAC-SHA256 of the fields).

Fields, big-endian: scheme version (1 byte), key id (4: which token key sealed it), enrollment id
(16), accuracy (1), issued and expiry times (4 + 4, Unix seconds), then the commitment: seed (16),
sealed helper data (128), sealed key check (32). About 320 characters, URL-safe.

`fit1_` tokens, issued before the keyring, carry no key id: each accepted key is tried in turn with
the sub-keys of that time. They keep working as long as their key is the current or a retired one.
"""

import base64
import binascii
import hashlib
import hmac
import struct
import uuid
from dataclasses import dataclass, field
from typing import TypeAlias

from facenition.keyring import KEY_ID_BYTES, TOKEN_MAC, Keyring, TokenKey

from .scheme import CURRENT_VERSION, HELPER_BYTES, LEGACY_VERSION, SEED_BYTES, Commitment, reseal

SCHEME_VERSION = CURRENT_VERSION
PREFIXES = {LEGACY_VERSION: "fit1_", CURRENT_VERSION: "fit2_"}
_HEADERS = {LEGACY_VERSION: struct.Struct(">B16sBII"), CURRENT_VERSION: struct.Struct(f">B{KEY_ID_BYTES}s16sBII")}
_KEY_CHECK_BYTES = 32
_MAC_BYTES = 32


# The one type of an enrollment's id, in tokens, rows and services alike.
EnrollmentId: TypeAlias = uuid.UUID


class MalformedToken(ValueError):
    """Not a token this server issued, or one altered since."""


class UnknownKey(MalformedToken):
    """Sealed, as the token says, under a token key this server no longer holds: without that key,
    its signature cannot be checked either."""

    def __init__(self, key_id: bytes, enrollment_id: EnrollmentId) -> None:
        super().__init__(f"it was sealed under a token key this server no longer holds (key id {key_id.hex()})")
        self.key_id = key_id
        # Unsigned as far as this server can tell: a forger may have written any id and key id.
        self.enrollment_id = enrollment_id


@dataclass(frozen=True)
class IdentityToken:
    enrollment_id: EnrollmentId
    accuracy: int
    issued_at: int
    expires_at: int
    commitment: Commitment
    version: int = CURRENT_VERSION
    # The key that sealed the token, once decoded or encoded.
    key: TokenKey | None = field(default=None, compare=False, repr=False)

    @property
    def sealing_key(self) -> TokenKey:
        """The key that sealed the token, known once it was decoded (or encoded)."""
        if self.key is None:
            raise MalformedToken("the token's key is known only once it was decoded")
        return self.key

    @property
    def key_id(self) -> bytes:
        return self.key.key_id if self.key is not None and self.version == CURRENT_VERSION else b""


def _mac(body: bytes, key: TokenKey, version: int) -> bytes:
    subkey = key.legacy_subkey(TOKEN_MAC) if version == LEGACY_VERSION else key.subkey(TOKEN_MAC)
    return hmac.new(subkey, body, hashlib.sha256).digest()


def _body_bytes(version: int) -> int:
    return _HEADERS[version].size + SEED_BYTES + HELPER_BYTES + _KEY_CHECK_BYTES


def token_encode(token: IdentityToken, *, key: TokenKey) -> str:
    """The token, sealed and signed under `key` (its commitment must already be sealed under it)."""
    c = token.commitment
    times = (token.accuracy, token.issued_at, token.expires_at)
    body = _HEADERS[CURRENT_VERSION].pack(CURRENT_VERSION, key.key_id, token.enrollment_id.bytes, *times)
    body += c.seed + c.sealed_helper + c.key_check
    encoded = base64.urlsafe_b64encode(body + _mac(body, key, CURRENT_VERSION)).rstrip(b"=").decode()
    return PREFIXES[CURRENT_VERSION] + encoded


def _candidates(body: bytes, version: int, keyring: Keyring) -> tuple[TokenKey, ...]:
    if version == LEGACY_VERSION:
        return keyring.keys
    _, key_id, enrollment_id, *_ = _HEADERS[CURRENT_VERSION].unpack_from(body)
    key = keyring.find(key_id)
    if key is None:
        raise UnknownKey(key_id, uuid.UUID(bytes=enrollment_id))
    return (key,)


def token_decode(text: object, *, keyring: Keyring) -> IdentityToken:
    """The token's fields and the key that opens it, once its MAC checks out; MalformedToken otherwise."""
    if not isinstance(text, str):
        raise MalformedToken("an identity token is a string")
    version = next((v for v, prefix in PREFIXES.items() if text.startswith(prefix)), None)
    if version is None:
        raise MalformedToken(f"an identity token starts with {PREFIXES[CURRENT_VERSION]}")
    encoded = text[len(PREFIXES[version]) :].strip()
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError):
        raise MalformedToken("not valid base64url") from None
    # One text per token: base64 leaves spare bits in the last character, which would otherwise let
    # several texts carry the same signed bytes.
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != encoded:
        raise MalformedToken("not valid base64url")
    size = _body_bytes(version)
    if len(raw) != size + _MAC_BYTES:
        raise MalformedToken("wrong length")
    body, mac = raw[:size], raw[size:]
    if raw[0] != version:
        raise MalformedToken(f"scheme version {raw[0]} is not supported")
    key = next(
        (k for k in _candidates(body, version, keyring) if hmac.compare_digest(mac, _mac(body, k, version))), None
    )
    if key is None:
        raise MalformedToken("the signature does not match")
    fields = _HEADERS[version].unpack_from(body)
    enrollment_id, accuracy, issued_at, expires_at = fields[-4:]
    rest = body[_HEADERS[version].size :]
    seed, rest = rest[:SEED_BYTES], rest[SEED_BYTES:]
    sealed_helper, key_check = rest[:HELPER_BYTES], rest[HELPER_BYTES:]
    return IdentityToken(
        enrollment_id=uuid.UUID(bytes=enrollment_id),
        accuracy=accuracy,
        issued_at=issued_at,
        expires_at=expires_at,
        commitment=Commitment(seed=seed, sealed_helper=sealed_helper, key_check=key_check),
        version=version,
        key=key,
    )


def token_reseal(token: IdentityToken, *, key: TokenKey) -> tuple[IdentityToken, str]:
    """(the same token under `key`, its text). A fit1 token cannot be re-sealed (see scheme.reseal)."""
    if token.version != CURRENT_VERSION:
        raise MalformedToken("a fit1 token cannot be re-sealed; /rotate it with live photos instead")
    commitment = reseal(
        token.commitment, enrollment_id=token.enrollment_id.bytes, old_key=token.sealing_key, new_key=key
    )
    moved = IdentityToken(
        enrollment_id=token.enrollment_id,
        accuracy=token.accuracy,
        issued_at=token.issued_at,
        expires_at=token.expires_at,
        commitment=commitment,
        key=key,
    )
    return moved, token_encode(moved, key=key)
