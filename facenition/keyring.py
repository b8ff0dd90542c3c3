"""The token keys, and every key the server derives from them: the one place sub-keys are made.

Every app reads the server's keys through `token_keyring()`; the rest is Django-free, so that the
protection scheme (enrollment.protection) and the benchmarks use it without settings.

`FACENITION_TOKEN_KEY` is the current key: new identity tokens and one-time codes use it.
`FACENITION_RETIRED_TOKEN_KEYS` (comma-separated) lists keys that still open the tokens sealed
under them, so a key can be replaced without invalidating a single token. Each key has a key id,
derived from it, that every identity token carries: the server knows which key to open a token
with, and an operator can tell which tokens still need a retired key.

Each purpose gets a sub-key of its own, derived by HKDF-SHA256 (RFC 5869), so that no two
mechanisms ever share a key. `SECRET_KEY` is not among them: changing it changes nothing here.
"""

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

HELPER_DATA = "helper data"  # encrypts an identity token's helper data
KEY_CHECK = "key check"  # encrypts an identity token's key check
TOKEN_MAC = "token mac"  # signs an identity token
ONE_TIME_CODES = "one-time codes"  # derives v2 verification codes
GALLERY_EMBEDDINGS = "gallery embeddings"  # wraps each gallery subject's own data key (matching.sealing)
PURPOSES = (HELPER_DATA, KEY_CHECK, TOKEN_MAC, ONE_TIME_CODES, GALLERY_EMBEDDINGS)
KEY_ID_BYTES = 4

_SALT = b"facenition keyring v1"
# How fit1 tokens (issued before the keyring) derived their sub-keys; they carry no key id.
_LEGACY_LABELS = {HELPER_DATA: b"helper data", KEY_CHECK: b"key check", TOKEN_MAC: b"mac"}


def hkdf(secret: bytes, info: bytes, length: int = 32) -> bytes:
    """HKDF-SHA256 (RFC 5869): extract with a fixed salt, expand with `info`."""
    prk = hmac.new(_SALT, secret, hashlib.sha256).digest()
    blocks, previous = [], b""
    for counter in range(1, -(-length // 32) + 1):
        previous = hmac.new(prk, previous + info + bytes([counter]), hashlib.sha256).digest()
        blocks.append(previous)
    return b"".join(blocks)[:length]


@dataclass(frozen=True)
class TokenKey:
    secret: bytes = field(repr=False)

    @property
    def key_id(self) -> bytes:
        return hkdf(self.secret, b"key id", KEY_ID_BYTES)

    def subkey(self, purpose: str) -> bytes:
        if purpose not in PURPOSES:
            raise ValueError(f"no sub-key for {purpose!r}")
        return hkdf(self.secret, b"purpose: " + purpose.encode())

    def legacy_subkey(self, purpose: str) -> bytes:
        """The sub-key a fit1 token used for `purpose`, from before sub-keys came from HKDF."""
        return hmac.new(self.secret, b"facenition identity token: " + _LEGACY_LABELS[purpose], hashlib.sha256).digest()


class Keyring:
    """The current key and the retired keys still accepted, found by key id."""

    def __init__(self, current: bytes, retired: Iterable[bytes] = ()) -> None:
        self.current = TokenKey(current)
        self.retired = tuple(TokenKey(secret) for secret in retired if secret != current)
        self._by_id = {key.key_id: key for key in (*reversed(self.retired), self.current)}

    @property
    def keys(self) -> tuple[TokenKey, ...]:
        """Every accepted key, the current one first."""
        return (self.current, *self.retired)

    def find(self, key_id: bytes) -> TokenKey | None:
        return self._by_id.get(key_id)


def parse_retired(value: str) -> tuple[str, ...]:
    """FACENITION_RETIRED_TOKEN_KEYS: comma-separated keys, blanks ignored."""
    return tuple(part.strip() for part in value.split(",") if part.strip())


@lru_cache(maxsize=8)
def keyring_from(current: str, retired: str = "") -> Keyring:
    """The keyring of FACENITION_TOKEN_KEY (`current`) and FACENITION_RETIRED_TOKEN_KEYS (`retired`),
    built once per pair of values."""
    return Keyring(current.encode(), [secret.encode() for secret in parse_retired(retired)])


def token_keyring() -> Keyring:
    """The token keys the settings name: FACENITION_TOKEN_KEY and FACENITION_RETIRED_TOKEN_KEYS."""
    # Imported here, not above: what the module holds besides this reader must import without Django.
    from django.conf import settings

    return keyring_from(settings.FACENITION_TOKEN_KEY, settings.FACENITION_RETIRED_TOKEN_KEYS)
