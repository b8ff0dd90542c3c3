"""The identity token's wire format: `fit1_` + base64url(fields ‖ HMAC-SHA256 of the fields).

Fields, big-endian: scheme version (1 byte), enrollment id (16), accuracy (1), issued and expiry
times (4 + 4, Unix seconds), then the commitment: seed (16), sealed helper data (128), key check
(32). About 310 characters, URL-safe.
"""

import base64
import binascii
import hashlib
import hmac
import struct
import uuid
from dataclasses import dataclass

from .scheme import HELPER_BYTES, SEED_BYTES, Commitment

SCHEME_VERSION = 1
PREFIX = f"fit{SCHEME_VERSION}_"
_HEADER = struct.Struct(">B16sBII")
_KEY_CHECK_BYTES = 32
_MAC_BYTES = 32
_BODY_BYTES = _HEADER.size + SEED_BYTES + HELPER_BYTES + _KEY_CHECK_BYTES


class MalformedToken(ValueError):
    """Not a token this server issued, or one altered since."""


@dataclass(frozen=True)
class IdentityToken:
    enrollment_id: uuid.UUID
    accuracy: int
    issued_at: int
    expires_at: int
    commitment: Commitment


def _mac(body, secret):
    key = hmac.new(secret, b"facenition identity token: mac", hashlib.sha256).digest()
    return hmac.new(key, body, hashlib.sha256).digest()


def token_encode(token, *, secret):
    c = token.commitment
    body = _HEADER.pack(SCHEME_VERSION, token.enrollment_id.bytes, token.accuracy, token.issued_at, token.expires_at)
    body += c.seed + c.sealed_helper + c.key_check
    return PREFIX + base64.urlsafe_b64encode(body + _mac(body, secret)).rstrip(b"=").decode()


def token_decode(text, *, secret):
    """The token's fields, once its MAC checks out; MalformedToken otherwise."""
    if not isinstance(text, str) or not text.startswith(PREFIX):
        raise MalformedToken(f"an identity token starts with {PREFIX}")
    encoded = text[len(PREFIX) :].strip()
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError):
        raise MalformedToken("not valid base64url") from None
    if len(raw) != _BODY_BYTES + _MAC_BYTES:
        raise MalformedToken("wrong length")
    body, mac = raw[:_BODY_BYTES], raw[_BODY_BYTES:]
    if not hmac.compare_digest(mac, _mac(body, secret)):
        raise MalformedToken("the signature does not match")
    version, enrollment_id, accuracy, issued_at, expires_at = _HEADER.unpack_from(body)
    if version != SCHEME_VERSION:
        raise MalformedToken(f"scheme version {version} is not supported")
    rest = body[_HEADER.size :]
    seed, rest = rest[:SEED_BYTES], rest[SEED_BYTES:]
    sealed_helper, key_check = rest[:HELPER_BYTES], rest[HELPER_BYTES:]
    return IdentityToken(
        enrollment_id=uuid.UUID(bytes=enrollment_id),
        accuracy=accuracy,
        issued_at=issued_at,
        expires_at=expires_at,
        commitment=Commitment(seed=seed, sealed_helper=sealed_helper, key_check=key_check),
    )
