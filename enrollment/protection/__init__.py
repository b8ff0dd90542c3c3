"""Protected identity tokens: a fuzzy commitment (code-offset) over binarised face embeddings.

Django-free. `commit()` turns an embedding into the sealed parts of a token; `open_commitment()`
tells whether a later embedding unlocks it and with how many corrected bit errors. Nothing here
stores anything: the caller keeps the token's digest and hands the token back to the caller.

The construction, in order:
1. Binarise (`binarisation`): scale the embedding to unit length, centre and scale it by the
   population statistics, rotate it by a random orthogonal matrix drawn from the token's own
   seed, and cut each of the 128 components into 9 equiprobable cells written as 8-bit
   thermometer codes: 1,023 bits (the last one is dropped).
2. Commit (`code`): draw a random 46-bit key, encode it with BCH(1023, 46), which corrects up to
   219 bit errors, and keep the codeword XOR the template bits as helper data.
3. Seal (`tokens`): the helper data and a hash of the key are encrypted under sub-keys of the token
   key (`facenition.keyring`: HKDF per purpose, a key id in every token, retired keys still accepted), and the
   token is signed under a third, so a token (or a stolen database plus tokens) gives an attacker
   neither the template bits nor anything to test key guesses against offline.
4. Open: XOR the helper data with the probe's bits (same seed, same rotation), decode; the probe
   is accepted when the decoded key's hash matches and the number of corrected errors is within
   the accuracy level's gate.
"""

from .code import warm_up
from .scheme import ERRORS_ALLOWED, Commitment, accepts, commit, helper_bits, open_commitment
from .tokens import (
    SCHEME_VERSION,
    EnrollmentId,
    IdentityToken,
    MalformedToken,
    UnknownKey,
    token_decode,
    token_encode,
    token_reseal,
)

__all__ = [
    "ERRORS_ALLOWED",
    "SCHEME_VERSION",
    "Commitment",
    "EnrollmentId",
    "accepts",
    "IdentityToken",
    "MalformedToken",
    "UnknownKey",
    "commit",
    "helper_bits",
    "open_commitment",
    "token_decode",
    "token_encode",
    "token_reseal",
    "warm_up",
]
