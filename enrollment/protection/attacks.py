"""The attacks docs/security.md's threat model states figures for, run against the real scheme.

Django-free, like the rest of the package, and never used by the server itself: the tests
(tests/enrollment/test_privacy.py) run them to assert what they can and cannot do, and
`manage.py attack_tokens` measures them over the shared face set.

- `invert`: from a token, rebuild an embedding. With the token key, the helper data comes out of
  its seal; the thermometer code makes each component's first bit 1 and its last 0 for 8 people
  in 9, so the helper bits at those positions are noisy linear equations in the 46-bit BCH key.
  Solving random sets of 46 of them finds the key, hence the template bits; the token's own seed
  gives the rotation, and each component's cell gives its value (the cell's mean). Without the key,
  the attacker can only run the same solver on the sealed bits.
- `link`: tell whether two tokens hold the same face, by inverting both and comparing the rebuilt
  embeddings (within `/match`'s most tolerant threshold of the tokens' face model), and by the code-offset link (XOR the two helpers and decode: lands within the code's
  reach when both tokens share a rotation).
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from . import code
from .binarisation import _EDGES, BITS_PER_COMPONENT, CELLS, TEMPLATE_BITS, Population, rotation
from .scheme import helper_bits

if TYPE_CHECKING:
    from facenition.keyring import TokenKey

    from .tokens import IdentityToken

Bits = npt.NDArray[np.uint8]
Vector = npt.NDArray[np.float64]

# Random sets of 46 equations the inversion tries. When each holds with probability 8/9, all 46 hold
# about once in 226 tries; a face far from the population mean has more components in the outer
# cells, fewer equations that hold, and needs many more tries.
ATTACK_TRIES = 10_000

_NORMAL = NormalDist()
_BOUNDS = np.concatenate([[-np.inf], _EDGES, [np.inf]])
# The mean of a standard normal within each of the 9 equiprobable cells.
_CELL_MEANS = np.array(
    [(_NORMAL.pdf(low) - _NORMAL.pdf(high)) * CELLS for low, high in zip(_BOUNDS[:-1], _BOUNDS[1:], strict=True)]
)


def _thermometer(word: Bits) -> Bits | None:
    """The word as template bits, if every component's 8 bits read 1…10…0; else None."""
    groups = np.append(word, 0)[: (TEMPLATE_BITS + 1)].reshape(-1, BITS_PER_COMPONENT)
    return word if np.all(np.diff(groups.astype(int), axis=1) <= 0) else None


def _gf2_solve(matrix: Bits, target: Bits) -> Bits | None:
    """x with x @ matrix = target over GF(2) for a square matrix, or None if it is singular."""
    a = np.concatenate([matrix.T, target[:, None]], axis=1).astype(np.uint8)
    size = matrix.shape[0]
    for column in range(size):
        pivots = np.nonzero(a[column:, column])[0]
        if pivots.size == 0:
            return None
        pivot = column + pivots[0]
        a[[column, pivot]] = a[[pivot, column]]
        others = np.nonzero(a[:, column])[0]
        others = others[others != column]
        a[others] ^= a[column]
    return a[:, -1]


def template_from_helper(helper: Bits, tries: int = 10_000, seed: int = 0) -> Bits | None:
    """The template bits behind helper data in the clear, or None when `tries` random sets of 46
    likely equations give no word that reads as a thermometer template."""
    generator = np.asarray(code.bch().G, dtype=np.uint8)
    positions = [i for i in range(TEMPLATE_BITS) if i % BITS_PER_COMPONENT in (0, BITS_PER_COMPONENT - 1)]
    likely = np.array([1 if i % BITS_PER_COMPONENT == 0 else 0 for i in positions], dtype=np.uint8)
    rng = np.random.default_rng(seed)
    for _ in range(tries):
        chosen = rng.choice(len(positions), size=code.KEY_BITS, replace=False)
        columns = [positions[i] for i in chosen]
        key = _gf2_solve(generator[:, columns], helper[columns] ^ likely[chosen])
        if key is None:
            continue
        template = _thermometer(helper ^ (key @ generator % 2).astype(np.uint8))
        if template is not None:
            return template
    return None


def embedding_from_template(template: Bits, seed: bytes, population: Population) -> Vector:
    """An embedding whose template bits under `seed` are `template`: each rotated component is set to
    its cell's mean, then the rotation and the population scaling are undone."""
    bits = np.append(template, 0).reshape(-1, BITS_PER_COMPONENT)
    cells = bits.sum(axis=1)
    standardised = rotation(seed).T @ _CELL_MEANS[cells]
    vector = standardised * population.spread + population.mean
    return vector / np.linalg.norm(vector)


def sealed_bits(token: IdentityToken) -> Bits:
    return np.unpackbits(np.frombuffer(token.commitment.sealed_helper, dtype=np.uint8))[:TEMPLATE_BITS]


def attacker_helper(token: IdentityToken, key: TokenKey | None = None) -> Bits:
    """The helper bits as the attacker sees them: in the clear with the token key, sealed without."""
    if key is None:
        return sealed_bits(token)
    return helper_bits(token.commitment, enrollment_id=token.enrollment_id.bytes, key=key, version=token.version)


def invert(
    token: IdentityToken, key: TokenKey | None, *, population: Population, tries: int = ATTACK_TRIES
) -> Vector | None:
    """An embedding rebuilt from the token, or None when the attack finds no template. `population`:
    the statistics of the token's face model, which the attacker is assumed to know."""
    template = template_from_helper(attacker_helper(token, key), tries=tries)
    return None if template is None else embedding_from_template(template, token.commitment.seed, population)


def cosine_distance(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    return float(1.0 - np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


@dataclass(frozen=True)
class Link:
    rebuilt_distance: float | None  # between the two rebuilt embeddings; None when either failed
    code_offset: bool  # XOR of the two helpers decoded
    threshold: float  # rebuilt embeddings this close (cosine distance) are called one face

    @property
    def linked(self) -> bool:
        return self.code_offset or (self.rebuilt_distance is not None and self.rebuilt_distance <= self.threshold)


def link(
    first: IdentityToken,
    second: IdentityToken,
    key: TokenKey | None = None,
    *,
    population: Population,
    threshold: float,
    tries: int = ATTACK_TRIES,
    rebuilt: dict[tuple[IdentityToken, TokenKey | None], Vector | None] | None = None,
) -> Link:
    """Whether the attacker, holding both tokens (and `key`, if given), calls them one face: the XOR
    of their helpers decodes, or both invert to embeddings within `threshold` (cosine distance; the
    face model's `/match` threshold at its most tolerant level). `rebuilt`, a dict, keeps each
    token's inversion across calls."""
    inversions = {} if rebuilt is None else rebuilt
    for token in (first, second):
        if (token, key) not in inversions:
            inversions[token, key] = invert(token, key, population=population, tries=tries)
    one, other = inversions[first, key], inversions[second, key]
    distance = None if one is None or other is None else cosine_distance(one, other)
    bch_key, _ = code.decode(attacker_helper(first, key) ^ attacker_helper(second, key))
    return Link(rebuilt_distance=distance, code_offset=bch_key is not None, threshold=threshold)
