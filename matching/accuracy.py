"""The eight accuracy levels, one meaning on every endpoint: each is a target false-match rate,
chosen here before any fitting, 1 the most tolerant, 8 the strictest.

`/match` turns a level into a threshold on the cosine distance between the two sides' descriptors
(`MATCH_THRESHOLDS`, one table per face model); identity tokens turn it into a gate on the bit errors the decoder corrects
(`enrollment.protection.ERRORS_ALLOWED`). Both are fitted to these targets by
`python manage.py calibrate_match` and `python manage.py calibrate_enrollment`, with people held
out; docs/accuracy.md shows their tables, measured on held-out folds only. `/gallery/identify` scores the
same levels 1:N (`identification_threshold`, below).
"""

import math

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

# face model -> level -> the largest cosine distance still called a match: `calibrate_match`'s fit on
# every person of the shared face set (a normal fitted to the impostor distances by pair of people,
# cut at the target rate), for the default descriptor variant (plain, aligned on the full-size photo)
# and detection schedule (cheap-first). Embeddings of two models are never compared.
MATCH_THRESHOLDS = {
    "Dlib": {
        1: 0.07,
        2: 0.063,
        3: 0.0543,
        4: 0.048,
        5: 0.042,
        6: 0.0344,
        7: 0.0289,
        8: 0.0118,
    },
    # SFace (int8), aligned on dlib's five landmarks to their template positions.
    "SFace": {
        1: 0.5976,
        2: 0.5785,
        3: 0.5548,
        4: 0.5377,
        5: 0.5214,
        6: 0.5008,
        7: 0.4858,
        8: 0.4393,
    },
}
CALIBRATED_MODELS = tuple(MATCH_THRESHOLDS)


def is_match(distance, accuracy, model):
    return distance <= MATCH_THRESHOLDS[model][accuracy]


def strictest_matching_level(distance, model):
    """The highest level at which `distance` still matches, 0 if none does."""
    passing = [level for level, threshold in MATCH_THRESHOLDS[model].items() if distance <= threshold]
    return max(passing, default=0)


# 1:N identification. A probe compared with N subjects is falsely identified about N times as often
# as one compared with one (FPIR ≈ N × FMR), so a level holds its target false-match rate as the
# false-positive identification rate of a gallery only with a stricter threshold: the one the level
# table gives for the rate target / N, interpolated between levels in log rate. Past the strictest
# level's rate there is no calibrated threshold: the gallery is too large for that level.


def false_match_threshold(rate, model):
    """The cosine-distance threshold `model`'s level table gives for false-match rate `rate`, or None
    when `rate` is below the strictest level's target. At or above the most tolerant level's target,
    its threshold (no level is looser than level 1)."""
    thresholds = MATCH_THRESHOLDS[model]
    levels = sorted(TARGET_FALSE_MATCH_RATES)
    if rate >= TARGET_FALSE_MATCH_RATES[levels[0]]:
        return thresholds[levels[0]]
    for looser, stricter in zip(levels, levels[1:], strict=False):
        high, low = TARGET_FALSE_MATCH_RATES[looser], TARGET_FALSE_MATCH_RATES[stricter]
        if low <= rate <= high:
            share = math.log(high / rate) / math.log(high / low)
            return thresholds[looser] + share * (thresholds[stricter] - thresholds[looser])
    return None


def identification_threshold(accuracy, gallery_size, model):
    """The threshold at which level `accuracy` holds its target as the false-positive identification
    rate of a gallery of `gallery_size` subjects of `model`'s faces, or None when the gallery is too
    large for it."""
    return false_match_threshold(TARGET_FALSE_MATCH_RATES[accuracy] / max(1, gallery_size), model)


def largest_gallery(accuracy):
    """The most subjects a gallery may hold for level `accuracy` to be held."""
    return math.floor(TARGET_FALSE_MATCH_RATES[accuracy] / TARGET_FALSE_MATCH_RATES[MAX_ACCURACY] * (1 + 1e-9))


def strictest_identifying_level(distance, gallery_size, model):
    """The highest level at which a gallery of `gallery_size` still identifies at `distance`, 0 if none."""
    passing = [
        level
        for level in TARGET_FALSE_MATCH_RATES
        if (threshold := identification_threshold(level, gallery_size, model)) is not None and distance <= threshold
    ]
    return max(passing, default=0)


def identification_scoring(accuracy, gallery_size):
    """How the gallery's size shaped the threshold, in words for the identify answer: a face that
    `/match` calls the same person at this level can have no candidate in a larger gallery."""
    target = TARGET_FALSE_MATCH_RATES[accuracy]
    each = target / max(1, gallery_size)
    if gallery_size <= 1:
        return f"Level {accuracy} holds 1 in {1 / target:,.0f} false matches, as /match's level {accuracy} does."
    stricter = [level for level, rate in TARGET_FALSE_MATCH_RATES.items() if rate <= each * (1 + 1e-9)]
    looser = [level for level, rate in TARGET_FALSE_MATCH_RATES.items() if rate >= each * (1 - 1e-9)]
    if stricter and looser and stricter[0] == looser[-1]:
        like = f"/match's level {stricter[0]}"
    elif stricter and looser:
        like = f"between /match's levels {looser[-1]} and {stricter[0]}"
    else:
        like = f"stricter than /match's level {MAX_ACCURACY}"
    return (
        f"Level {accuracy} holds its target of 1 in {1 / target:,.0f} false matches for the whole gallery of "
        f"{gallery_size} subjects, so each subject must match as closely as 1 in {1 / each:,.0f}: {like}. "
        "A face /match calls the same person at this level may have no candidate here; a lower accuracy "
        "shows more."
    )
