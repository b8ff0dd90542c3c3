"""The eight accuracy levels of /match: thresholds on the cosine distance between the Dlib
descriptors of the two sides, 1 the most tolerant, 8 the strictest.

Derived by `scripts/calibrate_match.py` from every genuine and impostor pair of single-face photos
in the shared face set (58 photos of 15 people: 119 genuine and 1,534 impostor pairs); the README
shows that script's table. Every level sits below the closest impostor pair seen there (0.083).
Level 4 rejects 5% of genuine single-photo pairs; a normal fitted to the impostor distances puts
its false-match rate near 1 in 7,000, well under 1 in 1,000.
"""

import math

DEFAULT_ACCURACY = 4
MIN_ACCURACY = 1
MAX_ACCURACY = 8

# level -> the largest cosine distance still called a match
MATCH_THRESHOLDS = {
    1: 0.080,
    2: 0.072,
    3: 0.064,
    4: 0.056,
    5: 0.048,
    6: 0.040,
    7: 0.032,
    8: 0.024,
}


def is_match(distance, accuracy):
    return distance <= MATCH_THRESHOLDS[accuracy]


def strictest_matching_level(distance):
    """The highest level at which `distance` still matches, 0 if none does."""
    passing = [level for level, threshold in MATCH_THRESHOLDS.items() if distance <= threshold]
    return max(passing, default=0)


# Until the levels are redefined by target false-match rates (issue 9): the normal-fit estimates the
# README's table gives for these thresholds, read as each level's rate.
TARGET_FALSE_MATCH_RATES = {
    1: 1 / 572,
    2: 1 / 1_254,
    3: 1 / 2_901,
    4: 1 / 7_071,
    5: 1 / 18_178,
    6: 1 / 49_290,
    7: 1 / 141_004,
    8: 1 / 425_656,
}


# 1:N identification. A probe compared with N subjects is falsely identified about N times as often
# as one compared with one (FPIR ≈ N × FMR), so a level holds its target false-match rate as the
# false-positive identification rate of a gallery only with a stricter threshold: the one the level
# table gives for the rate target / N, interpolated between levels in log rate. Past the strictest
# level's rate there is no calibrated threshold: the gallery is too large for that level.


def false_match_threshold(rate):
    """The cosine-distance threshold the level table gives for false-match rate `rate`, or None when
    `rate` is below the strictest level's target. At or above the most tolerant level's target, its
    threshold (no level is looser than level 1)."""
    levels = sorted(TARGET_FALSE_MATCH_RATES)
    if rate >= TARGET_FALSE_MATCH_RATES[levels[0]]:
        return MATCH_THRESHOLDS[levels[0]]
    for looser, stricter in zip(levels, levels[1:], strict=False):
        high, low = TARGET_FALSE_MATCH_RATES[looser], TARGET_FALSE_MATCH_RATES[stricter]
        if low <= rate <= high:
            share = math.log(high / rate) / math.log(high / low)
            return MATCH_THRESHOLDS[looser] + share * (MATCH_THRESHOLDS[stricter] - MATCH_THRESHOLDS[looser])
    return None


def identification_threshold(accuracy, gallery_size):
    """The threshold at which level `accuracy` holds its target as the false-positive identification
    rate of a gallery of `gallery_size` subjects, or None when the gallery is too large for it."""
    return false_match_threshold(TARGET_FALSE_MATCH_RATES[accuracy] / max(1, gallery_size))


def largest_gallery(accuracy):
    """The most subjects a gallery may hold for level `accuracy` to be held."""
    return math.floor(TARGET_FALSE_MATCH_RATES[accuracy] / TARGET_FALSE_MATCH_RATES[MAX_ACCURACY] * (1 + 1e-9))


def strictest_identifying_level(distance, gallery_size):
    """The highest level at which a gallery of `gallery_size` still identifies at `distance`, 0 if none."""
    passing = [
        level
        for level in MATCH_THRESHOLDS
        if (threshold := identification_threshold(level, gallery_size)) is not None and distance <= threshold
    ]
    return max(passing, default=0)
