"""The eight accuracy levels of /match: thresholds on the cosine distance between the Dlib
descriptors of the two sides, 1 the most tolerant, 8 the strictest.

Derived by `scripts/calibrate_match.py` from every genuine and impostor pair of single-face photos
in the shared face set; the README shows that script's table. Level 4 sits below the closest
impostor pair seen there, so its false-match rate is well under 1 in 1,000 on that set.
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
