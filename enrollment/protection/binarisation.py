"""Embedding → 1,023 template bits, with a rotation that differs for every token."""

from statistics import NormalDist

import numpy as np

from .population import POPULATION_MEAN, POPULATION_SPREAD

CELLS = 9
BITS_PER_COMPONENT = CELLS - 1
TEMPLATE_BITS = 1023

_MEAN = np.array(POPULATION_MEAN)
_SPREAD = np.array(POPULATION_SPREAD)
# Cell boundaries that split a standard normal into equally likely cells.
_EDGES = np.array([NormalDist().inv_cdf(k / CELLS) for k in range(1, CELLS)])


def rotation(seed):
    """A random orthogonal matrix drawn from `seed` (bytes): the same seed, the same matrix."""
    generator = np.random.Generator(np.random.PCG64(int.from_bytes(seed, "big")))
    q, r = np.linalg.qr(generator.standard_normal((_MEAN.size, _MEAN.size)))
    return q * np.sign(np.diag(r))


def template_bits(embedding, seed):
    """Thermometer bits of the rotated, standardised embedding: a uint8 array of 0s and 1s.

    Rotating after standardising spreads each person's identity over every component, so the bits
    of two tokens with different seeds are no more alike for one face than for two faces."""
    vector = np.asarray(embedding, dtype=np.float64)
    vector = vector / np.linalg.norm(vector)
    standardised = rotation(seed) @ ((vector - _MEAN) / _SPREAD)
    cells = np.searchsorted(_EDGES, standardised)
    bits = (np.arange(BITS_PER_COMPONENT)[None, :] < cells[:, None]).astype(np.uint8).ravel()
    return bits[:TEMPLATE_BITS]
