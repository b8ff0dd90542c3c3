"""The eight accuracy levels, one meaning on every endpoint: each is a target false-match rate,
chosen here before any fitting, 1 the most tolerant, 8 the strictest.

`/match` turns a level into a threshold on the cosine distance between the two sides' descriptors
(`MATCH_THRESHOLDS`); identity tokens turn it into a gate on the bit errors the decoder corrects
(`enrollment.protection.ERRORS_ALLOWED`). Both are fitted to these targets by
`python manage.py calibrate_match` and `python manage.py calibrate_enrollment`, with people held
out; the README shows their tables, measured on held-out folds only.
"""

DEFAULT_ACCURACY = 4
MIN_ACCURACY = 1
MAX_ACCURACY = 8

# level -> the false-match rate it aims at (impostor pairs accepted / impostor pairs tried)
TARGET_FALSE_MATCH_RATES = {
    1: 1 / 1_000,
    2: 1 / 2_000,
    3: 1 / 5_000,
    4: 1 / 10_000,
    5: 1 / 20_000,
    6: 1 / 50_000,
    7: 1 / 100_000,
    8: 1 / 1_000_000,
}

# level -> the largest cosine distance still called a match: `calibrate_match`'s fit on every person
# of the shared face set (a normal fitted to the impostor distances by pair of people, cut at the
# target rate), for the default descriptor (plain Dlib, aligned on the full-size photo).
MATCH_THRESHOLDS = {
    1: 0.0695,
    2: 0.0625,
    3: 0.0537,
    4: 0.0474,
    5: 0.0414,
    6: 0.0337,
    7: 0.0282,
    8: 0.0110,
}


def is_match(distance, accuracy):
    return distance <= MATCH_THRESHOLDS[accuracy]


def strictest_matching_level(distance):
    """The highest level at which `distance` still matches, 0 if none does."""
    passing = [level for level, threshold in MATCH_THRESHOLDS.items() if distance <= threshold]
    return max(passing, default=0)
