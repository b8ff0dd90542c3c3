"""The keys that seal a gallery's faces, as the settings name them: each subject's own key is wrapped
under the gallery sub-key of the current token key, and opens under that of any key the server
still holds (FACENITION_RETIRED_TOKEN_KEYS). The sealing itself, Django-free, is `matching.sealing`."""

from functools import lru_cache

from facenition.keyring import GALLERY_EMBEDDINGS, Keyring, token_keyring

from .models import Subject, SubjectKey
from .sealing import Sealer, open_subject_key


@lru_cache(maxsize=4)
def _wrappers_for(keyring: Keyring) -> tuple[Sealer, dict[str, Sealer]]:
    wrappers = {
        key.key_id.hex(): Sealer(key=key.subkey(GALLERY_EMBEDDINGS), key_id=key.key_id.hex()) for key in keyring.keys
    }
    return wrappers[keyring.current.key_id.hex()], wrappers


def gallery_key_wrapper() -> Sealer:
    """What wraps new subject keys: the gallery sub-key of the current token key."""
    return _wrappers_for(token_keyring())[0]


def gallery_key_wrappers() -> dict[str, Sealer]:
    """Every gallery sub-key that may open a wrapped subject key, by key id: the current token key's
    and each retired key's (FACENITION_RETIRED_TOKEN_KEYS), so that keys wrapped before a rotation still open."""
    return _wrappers_for(token_keyring())[1]


def subject_sealer(subject: Subject) -> Sealer:
    """What seals and opens the subject's faces and metadata: its own key, unwrapped. SealBroken when
    its key is gone (the subject was forgotten), altered, or wrapped under a key the server lacks."""
    key = SubjectKey.objects.filter(subject_id=subject.pk).first()
    return open_subject_key(
        gallery_key_wrappers(),
        None if key is None else bytes(key.wrapped_key),
        "" if key is None else key.key_id,
        gallery_id=subject.gallery_id,
        subject_id=subject.pk,
    )
