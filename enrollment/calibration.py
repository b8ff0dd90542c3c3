"""Leave-people-out calibration of the identity tokens: what `calibrate_enrollment` and
`derive_enrollment_population` run. Django-free.

A fold's fit is everything the scheme learns from faces: the population statistics that centre the
embeddings, the width of the cells they are cut into (for the models whose width is fitted), the gate on corrected bit errors for each level (a normal fitted to the impostor
attempts' bit distances, cut at the level's target false-match rate, never above what the code can
correct), and `/generate`'s threshold for "the photos show one person" (`/match`'s level 1).
Enrollments are tried through the scheme itself (`commit`, `open_commitment`), each with a fold that
never saw the people involved.
"""

import itertools
import math
import secrets
import uuid
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from facenition.keyring import TokenKey
from matching.calibration import (
    PeopleOut,
    Tally,
    by_person,
    enrollments_of,
    match_thresholds,
    normal_fit,
    people_pair,
)
from matching.reading import cosine_distance

from .protection import code, commit, open_commitment
from .protection.binarisation import CELL_WIDTH, FITTED_CELL_WIDTH, Population, templates

FIT_SEED = 0


@dataclass(frozen=True)
class TokenFit:
    population: Population  # widened by the cell width
    cell_width: float
    gates: dict  # level -> most corrected bit errors accepted
    one_person_threshold: float  # /match's most tolerant level
    rate_at_limit: float  # the fitted false-match rate at the most errors the code corrects


def unit(vector):
    return vector / np.linalg.norm(vector)


def population_of(samples):
    return Population.of([[unit(s.embedding) for s in own] for own in by_person(samples).values()])


def mean_embedding(samples):
    return np.mean([s.embedding for s in samples], axis=0)


def impostor_bit_distances(samples, population, photos_per_enrollment, seed=FIT_SEED):
    """Bits a probe of someone else differs by from each `photos_per_enrollment`-photo enrollment, each
    enrollment under a rotation of its own (drawn from `seed`, so a fit is repeatable), by pair of
    people."""
    draw = np.random.default_rng(seed)
    distances = defaultdict(list)
    for person, enrolled, _ in enrollments_of(samples, photos_per_enrollment):
        others = [s for s in samples if s.identity != person]
        bits = templates([mean_embedding(enrolled), *(s.embedding for s in others)], draw.bytes(16), population)
        for other, distance in zip(others, (bits[1:] != bits[0]).sum(axis=1), strict=True):
            distances[people_pair(person, other.identity)].append(distance)
    return distances


def rate_at_limit(samples, population, photos_per_enrollment, fit="people-pairs"):
    """The false-match rate a normal fitted to the impostor attempts' bit distances puts at the most
    errors the code corrects."""
    distances = impostor_bit_distances(samples, population, photos_per_enrollment)
    return normal_fit(distances, fit).cdf(code.correctable_errors())


def cell_width(samples, target, photos_per_enrollment, fit="people-pairs", widest=3.0):
    """The widest cells, in hundredths of a population spread and at least 1, at which the fitted
    impostor rate at the code's limit stays at or below `target` (a bisection: wider cells only bring
    bits closer)."""
    population = population_of(samples)

    def holds(hundredths):
        return rate_at_limit(samples, population.widened(hundredths / 100), photos_per_enrollment, fit) <= target

    low, high = 100, round(widest * 100)
    if not holds(low):
        return 1.0
    if holds(high):
        return high / 100
    while high - low > 1:  # holds(low), not holds(high)
        middle = (low + high) // 2
        low, high = (middle, high) if holds(middle) else (low, middle)
    return low / 100


def token_fit(samples, targets, photos_per_enrollment, fit="people-pairs", *, model):
    """A fold's fit for `model`'s embeddings: its cell width is fitted when the model is one of
    FITTED_CELL_WIDTH, else the deployed one."""
    if model in FITTED_CELL_WIDTH:
        width = cell_width(samples, min(targets.values()), photos_per_enrollment, fit)
    else:
        width = CELL_WIDTH[model]
    population = population_of(samples).widened(width)
    distances = impostor_bit_distances(samples, population, photos_per_enrollment)
    impostors = normal_fit(distances, fit)
    limit = code.correctable_errors()
    gates = {level: min(limit, math.floor(impostors.inv_cdf(target))) for level, target in targets.items()}
    one_person = match_thresholds(samples, {1: targets[1]}, fit)[1]
    return TokenFit(
        population=population,
        cell_width=width,
        gates=gates,
        one_person_threshold=one_person,
        rate_at_limit=impostors.cdf(limit),
    )


def shows_one_person(samples, threshold):
    return all(cosine_distance(a.embedding, b.embedding) <= threshold for a, b in itertools.combinations(samples, 2))


@dataclass
class TokenResults:
    genuine: Tally
    impostor: Tally
    enrollments: int
    refused: int
    closest_impostor_bits: int


def token_cross_validation(samples, targets, photos_per_enrollment, fit="people-pairs", *, model):
    """Every enrollment tried with the person's other photos (genuine) and everyone else's (impostor)."""
    fits = PeopleOut(samples, lambda kept: token_fit(kept, targets, photos_per_enrollment, fit, model=model))
    key = TokenKey(secrets.token_bytes(32))
    people = by_person(samples)
    genuine, impostor = Tally(), Tally()
    enrollments = refused = 0
    closest = code.CODE_LENGTH

    def attempts(enrolled, probes, fit):
        enrollment_id = uuid.uuid4().bytes
        embedding = mean_embedding(enrolled)
        commitment = commit(embedding=embedding, enrollment_id=enrollment_id, key=key, population=fit.population)
        for probe in probes:
            errors = open_commitment(
                commitment,
                embedding=probe.embedding,
                enrollment_id=enrollment_id,
                key=key,
                population=fit.population,
            )
            bits = templates([embedding, probe.embedding], commitment.seed, fit.population)
            yield errors, int((bits[0] != bits[1]).sum())

    for person, enrolled, own_rest in enrollments_of(samples, photos_per_enrollment):
        enrollments += 1
        fit = fits({person})
        if not shows_one_person(enrolled, fit.one_person_threshold):
            refused += 1
            continue
        for errors, _ in attempts(enrolled, own_rest, fit):
            for level, gate in fit.gates.items():
                genuine.add(level, errors is not None and errors <= gate)
        for other, probes in people.items():
            if other == person:
                continue
            fit = fits({person, other})
            for errors, distance in attempts(enrolled, probes, fit):
                closest = min(closest, distance)
                for level, gate in fit.gates.items():
                    impostor.add(level, errors is not None and errors <= gate)
    return TokenResults(genuine, impostor, enrollments, refused, closest)
