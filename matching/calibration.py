"""Leave-people-out calibration of the accuracy levels: what `calibrate_match` and
`calibrate_enrollment` run. Django-free.

A level is a target false-match rate (`accuracy.TARGET_FALSE_MATCH_RATES`). Its threshold is fitted
on impostor pairs only: a normal distribution fitted to their distances, cut where its lower tail
holds the target rate (a few thousand pairs cannot show a rate of 1 in 100,000, a fitted tail can
estimate it). Every figure reported is held out: a genuine pair of person A is judged by a fit
that never saw A, an impostor pair of A and B by a fit that saw neither.

The normal is fitted per pair of people ("people-pairs", the default): impostor distances cluster by
which two people they compare, and what a new pair of people will look like is the spread of those
clusters' means plus the spread within them. Fitting all photos' pairs alike ("pooled") lets the
people with many photos set the spread; held out, it let through several times its target at the
most tolerant levels (docs/decisions.md has both).
"""

import hashlib
import itertools
import math
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist

import numpy as np

from .reading import cosine_distance


@dataclass(frozen=True)
class Sample:
    """The largest face of one labelled photo, as the pipeline read it."""

    identity: str
    file: str
    embedding: np.ndarray = field(repr=False)
    size: int
    sharpness: float


def cache_dir():
    """Embeddings are cached outside the repository: `$XDG_CACHE_HOME/facenition/embeddings`."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "facenition" / "embeddings"


def read_samples(photos, *, pipeline, decode, cache=True, on_missing=None):
    """One Sample per photo with a face. `decode(label, content)` gives the RGB pixels. Each photo's
    reading is cached on disk by the photo's SHA-256 and the pipeline variant."""
    folder = cache_dir()
    samples = []
    for photo in photos:
        content = photo.read()
        path = folder / f"{hashlib.sha256(content).hexdigest()}-{pipeline.config.variant}.npz"
        if cache and path.is_file():
            stored = np.load(path)
            faces, embedding = int(stored["faces"]), stored["embedding"]
            size, sharpness = int(stored["size"]), float(stored["sharpness"])
        else:
            largest = pipeline.analyse(decode(photo.file, content)).largest
            faces = 0 if largest is None else 1
            embedding = np.zeros(0) if largest is None else largest.embedding
            size, sharpness = (0, 0.0) if largest is None else (largest.size, largest.sharpness)
            if cache:
                folder.mkdir(parents=True, exist_ok=True)
                np.savez(path, faces=faces, embedding=embedding, size=size, sharpness=sharpness)
        if faces == 0:
            if on_missing:
                on_missing(photo.file)
            continue
        samples.append(Sample(photo.identity, photo.file, embedding, size, sharpness))
    return samples


# Error bars.


def _binomial_cdf(k, n, p):
    if p <= 0:
        return 1.0
    if p >= 1:
        return 0.0 if k < n else 1.0
    log_p, log_q = math.log(p), math.log1p(-p)
    terms = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q
        for i in range(k + 1)
    ]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


def upper_bound(k, n, confidence=0.95):
    """One-sided upper confidence bound of a rate seen k times in n: the rule of three when k is 0,
    else Clopper–Pearson (the p at which seeing k or fewer has probability 1 - confidence)."""
    if n == 0:
        return 1.0
    if k == 0:
        return 3 / n
    if k >= n:
        return 1.0
    low, high = k / n, 1.0
    for _ in range(100):
        middle = (low + high) / 2
        if _binomial_cdf(k, n, middle) > 1 - confidence:
            low = middle
        else:
            high = middle
    return high


def one_in(rate):
    return "0" if rate <= 0 else f"1 in {1 / rate:,.0f}"


def rate_cell(k, n):
    return f"{k / n:.2%} ({k:,} of {n:,})" if n else "—"


# Fits.


FITS = ("people-pairs", "pooled")


def normal_fit(groups, fit="people-pairs"):
    """A normal fitted to impostor values; `groups` maps each pair of people to their values."""
    groups = [np.asarray(values, dtype=np.float64) for values in groups.values()]
    if fit == "pooled":
        values = np.concatenate(groups)
        return NormalDist(values.mean(), values.std(ddof=1))
    means = np.array([values.mean() for values in groups])
    within = np.concatenate([values - values.mean() for values in groups])
    between = means.var(ddof=1) if len(means) > 1 else 0.0  # one pair of people: no spread between pairs
    return NormalDist(means.mean(), math.sqrt(between + within.var()))


def normal_cut(groups, target, fit="people-pairs"):
    """The value below which the fitted normal holds a fraction `target` of impostor values."""
    return normal_fit(groups, fit).inv_cdf(target)


def people_pair(a, b):
    return tuple(sorted((a, b)))


def match_thresholds(samples, targets, fit="people-pairs"):
    """Level → the largest cosine distance still called a match, fitted on the impostor pairs of
    `samples`."""
    impostors = defaultdict(list)
    for a, b in itertools.combinations(samples, 2):
        if a.identity != b.identity:
            impostors[people_pair(a.identity, b.identity)].append(cosine_distance(a.embedding, b.embedding))
    return {level: round(normal_cut(impostors, target, fit), 4) for level, target in targets.items()}


class PeopleOut:
    """Fits made without some people, each made once: `fits(["a", "b"])` never saw a or b."""

    def __init__(self, samples, fit):
        self.samples = samples
        self.fit = fit
        self._fits = {}

    def __call__(self, excluded):
        key = frozenset(excluded)
        if key not in self._fits:
            self._fits[key] = self.fit([s for s in self.samples if s.identity not in key])
        return self._fits[key]


@dataclass
class Tally:
    """Accepted attempts out of all, per level."""

    accepted: dict = field(default_factory=lambda: defaultdict(int))
    attempts: dict = field(default_factory=lambda: defaultdict(int))
    examples: list = field(default_factory=list)  # what was accepted at the most tolerant level

    def add(self, level, accepted):
        self.attempts[level] += 1
        self.accepted[level] += bool(accepted)

    def rate(self, level):
        n = self.attempts[level]
        return self.accepted[level] / n if n else 0.0


def match_cross_validation(samples, targets, fit="people-pairs"):
    """Every pair of samples judged by thresholds fitted without its people: (genuine, impostor)."""
    fits = PeopleOut(samples, lambda kept: match_thresholds(kept, targets, fit))
    genuine, impostor = Tally(), Tally()
    for a, b in itertools.combinations(samples, 2):
        distance = cosine_distance(a.embedding, b.embedding)
        same = a.identity == b.identity
        thresholds = fits({a.identity} if same else {a.identity, b.identity})
        for level, threshold in thresholds.items():
            (genuine if same else impostor).add(level, distance <= threshold)
        if not same and distance <= thresholds[min(thresholds)]:
            impostor.examples.append(f"{a.file} ~ {b.file} ({distance:.4f})")
    return genuine, impostor


def pair_distances(samples):
    genuine: list[float] = []
    impostor: list[float] = []
    for a, b in itertools.combinations(samples, 2):
        (genuine if a.identity == b.identity else impostor).append(cosine_distance(a.embedding, b.embedding))
    return np.array(genuine), np.array(impostor)


def by_person(samples):
    people = defaultdict(list)
    for sample in samples:
        people[sample.identity].append(sample)
    return people


def enrollments_of(samples, photos_per_enrollment):
    """Every `photos_per_enrollment` photos of each person, as (person, enrolled samples, the person's
    other samples)."""
    for person, own in by_person(samples).items():
        for chosen in itertools.combinations(range(len(own)), photos_per_enrollment):
            yield person, [own[i] for i in chosen], [s for i, s in enumerate(own) if i not in chosen]
