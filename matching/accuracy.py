"""The eight accuracy levels of /match: thresholds on the cosine distance between the Dlib
descriptors of the two sides, 1 the most tolerant, 8 the strictest.

Derived by `scripts/calibrate_match.py` from every genuine and impostor pair of single-face photos
in the shared face set (58 photos of 15 people: 119 genuine and 1,534 impostor pairs); the README
shows that script's table. Every level sits below the closest impostor pair seen there (0.083).
Level 4 rejects 5% of genuine single-photo pairs; a normal fitted to the impostor distances puts
its false-match rate near 1 in 7,000, well under 1 in 1,000.
"""

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
