"""1:N levels: a level's target false-match rate holds as the false-positive identification rate of
the whole gallery (FPIR ≈ N × FMR)."""

import pytest

from matching.accuracy import (
    MATCH_THRESHOLDS,
    MAX_ACCURACY,
    TARGET_FALSE_MATCH_RATES,
    false_match_threshold,
    identification_threshold,
    largest_gallery,
    strictest_identifying_level,
)

MODELS = sorted(MATCH_THRESHOLDS)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("level", range(1, MAX_ACCURACY + 1))
def test_a_gallery_of_one_uses_the_level_of_match(level, model):
    assert identification_threshold(level, 1, model) == pytest.approx(MATCH_THRESHOLDS[model][level])


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("level", range(1, MAX_ACCURACY))
def test_a_level_over_n_subjects_uses_the_threshold_of_a_rate_n_times_smaller(level, model):
    stricter = level + 1
    subjects = TARGET_FALSE_MATCH_RATES[level] / TARGET_FALSE_MATCH_RATES[stricter]
    assert identification_threshold(level, subjects, model) == pytest.approx(MATCH_THRESHOLDS[model][stricter])


@pytest.mark.parametrize("model", MODELS)
def test_the_threshold_tightens_as_the_gallery_grows(model):
    thresholds = [identification_threshold(1, n, model) for n in range(1, largest_gallery(1) + 1)]
    assert all(a >= b for a, b in zip(thresholds, thresholds[1:], strict=False))


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("level", range(1, MAX_ACCURACY + 1))
def test_past_the_largest_gallery_no_threshold_holds_the_level(level, model):
    assert identification_threshold(level, largest_gallery(level), model) is not None
    assert identification_threshold(level, largest_gallery(level) + 1, model) is None


@pytest.mark.parametrize("model", MODELS)
def test_no_rate_below_the_strictest_level_has_a_threshold(model):
    assert false_match_threshold(TARGET_FALSE_MATCH_RATES[MAX_ACCURACY] / 2, model) is None


@pytest.mark.parametrize("model", MODELS)
def test_a_candidates_level_is_the_strictest_the_gallery_size_allows(model):
    distance = identification_threshold(3, 10, model)
    assert strictest_identifying_level(distance, 10, model) == 3
    assert strictest_identifying_level(distance, 1, model) >= 3
    assert strictest_identifying_level(1.0, 10, model) == 0
