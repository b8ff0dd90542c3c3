"""Embedding → 1,023 template bits, with a rotation that differs for every token."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt

from . import population, population_sface

CELLS = 9
BITS_PER_COMPONENT = CELLS - 1
TEMPLATE_BITS = 1023
EMBEDDING_SIZE = 128  # Dlib's and SFace's alike


@dataclass(frozen=True)
class Population:
    """What centres and scales unit-length embeddings: a mean and a per-component spread."""

    mean: npt.NDArray[np.float64] = field(repr=False)
    spread: npt.NDArray[np.float64] = field(repr=False)

    @classmethod
    def of(cls, embeddings_by_person: Iterable[Any]) -> "Population":
        """Derived from unit-length embeddings grouped by person: the mean is the average of per-person
        means, so a person with many photos does not pull it towards themselves; the spread is each
        component's root-mean-square deviation of every photo from that mean."""
        people = [np.asarray(embeddings) for embeddings in embeddings_by_person]
        mean = np.mean([embeddings.mean(axis=0) for embeddings in people], axis=0)
        photos = np.concatenate(people)
        return cls(mean=mean, spread=np.sqrt(((photos - mean) ** 2).mean(axis=0)))

    def widened(self, width: float) -> "Population":
        """The same statistics with cells `width` times as wide: the spread scaled by `width`."""
        return Population(mean=self.mean, spread=self.spread * width)


# Face model -> how wide its cells are, in population spreads. Dlib's stay 1: its tokens were issued
# with them. SFace's is `calibrate_enrollment`'s fit (`enrollment.calibration.cell_width`): the widest
# cells (in hundredths) at which a normal fitted to the impostor attempts' bit distances still puts
# the code's own limit at or below the strictest level's target. Wider cells bring one face's bits
# closer together, and SFace's impostors were far beyond the code's reach with cells of 1 spread
# (300 bits at the closest, for 219 corrected), while its genuine attempts missed it 6 times in 100.
CELL_WIDTH = {"Dlib": 1.0, "SFace": 1.43}
FITTED_CELL_WIDTH = ("SFace",)

# Face model -> the statistics its embeddings are binarised with (`derive_enrollment_population`),
# widened by its cell width.
DEPLOYED = {
    "Dlib": Population(
        mean=np.array(population.POPULATION_MEAN), spread=np.array(population.POPULATION_SPREAD)
    ).widened(CELL_WIDTH["Dlib"]),
    "SFace": Population(
        mean=np.array(population_sface.POPULATION_MEAN), spread=np.array(population_sface.POPULATION_SPREAD)
    ).widened(CELL_WIDTH["SFace"]),
}
# Cell boundaries that split a standard normal into equally likely cells.
_EDGES = np.array([NormalDist().inv_cdf(k / CELLS) for k in range(1, CELLS)])


def rotation(seed: bytes) -> npt.NDArray[np.float64]:
    """A random orthogonal matrix drawn from `seed` (bytes): the same seed, the same matrix."""
    generator = np.random.Generator(np.random.PCG64(int.from_bytes(seed, "big")))
    q, r = np.linalg.qr(generator.standard_normal((EMBEDDING_SIZE, EMBEDDING_SIZE)))
    return q * np.sign(np.diag(r))


def templates(embeddings: npt.ArrayLike, seed: bytes, population: Population) -> npt.NDArray[np.uint8]:
    """Thermometer bits of each rotated, standardised embedding (one per row): uint8 0s and 1s.

    Rotating after standardising spreads each person's identity over every component, so the bits
    of two tokens with different seeds are no more alike for one face than for two faces."""
    vectors = np.atleast_2d(np.asarray(embeddings, dtype=np.float64))
    vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    standardised = ((vectors - population.mean) / population.spread) @ rotation(seed).T
    cells = np.searchsorted(_EDGES, standardised)
    bits = (np.arange(BITS_PER_COMPONENT) < cells[..., None]).astype(np.uint8)
    return bits.reshape(len(vectors), -1)[:, :TEMPLATE_BITS]


def template_bits(embedding: npt.ArrayLike, seed: bytes, population: Population) -> npt.NDArray[np.uint8]:
    """The template bits of one embedding."""
    return templates(embedding, seed, population)[0]
