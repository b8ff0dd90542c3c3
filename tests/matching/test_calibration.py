import dataclasses
import math

import numpy as np
import pytest
from django.core.management import call_command

from enrollment.calibration import population_of, rate_at_limit, token_fit
from enrollment.protection import ERRORS_ALLOWED
from enrollment.protection.binarisation import CELL_WIDTH, DEPLOYED
from matching.accuracy import MATCH_THRESHOLDS, TARGET_FALSE_MATCH_RATES
from matching.calibration import PeopleOut, Sample, match_cross_validation, match_thresholds, read_samples, upper_bound
from matching.pipeline import FacePipeline, decode_image
from matching.reading import face_pipeline


def binomial_at_most(k, n, p):
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))


def test_upper_bound_is_the_rule_of_three_when_nothing_was_seen():
    assert upper_bound(0, 1534) == 3 / 1534


@pytest.mark.parametrize("k, n", [(1, 100), (3, 1534), (7, 1534), (40, 200)])
def test_upper_bound_is_clopper_pearson(k, n):
    bound = upper_bound(k, n)
    assert k / n < bound < 1
    # Seeing k or fewer has probability 5% at the bound: a one-sided 95% bound.
    assert binomial_at_most(k, n, bound) == pytest.approx(0.05, abs=1e-6)


def fake(identity, vector):
    return Sample(identity, f"{identity}-{len(vector)}", np.asarray(vector, dtype=np.float64), 200, 500.0)


def test_a_fit_never_sees_the_people_it_leaves_out():
    samples = [fake(person, [i, 1.0]) for i, person in enumerate("abcabc")]
    seen = []
    fits = PeopleOut(samples, lambda kept: seen.append({s.identity for s in kept}) or len(seen))
    assert fits({"a"}) == 1 and fits({"a", "b"}) == 2 and fits({"b", "a"}) == 2
    assert seen == [{"b", "c"}, {"c"}]


def test_cross_validation_judges_a_lookalike_pair_without_either_lookalike():
    # Ten people far apart, and two (x and y) who look alike: a fit that saw x and y would be stricter
    # than one that did not, and only the latter is fair to them.
    draw = np.random.default_rng(3)
    samples = []
    for person in range(10):
        centre = draw.standard_normal(128)
        samples += [fake(f"p{person}", centre + 0.1 * draw.standard_normal(128)) for _ in range(3)]
    twin = draw.standard_normal(128)
    samples += [fake(who, twin + 0.25 * draw.standard_normal(128)) for who in ("x", "x", "y", "y")]
    targets = {1: 1 / 1000}
    genuine, impostor = match_cross_validation(samples, targets)
    assert impostor.attempts[1] == sum(
        1 for i, a in enumerate(samples) for b in samples[i + 1 :] if a.identity != b.identity
    )
    assert genuine.attempts[1] == 10 * 3 + 2
    # Held out, the lookalikes' 4 pairs are let through; fitted on everyone, the threshold is stricter.
    assert impostor.accepted[1] == 4
    assert match_thresholds(samples, targets)[1] < match_thresholds(samples[:-4], targets)[1]


@pytest.fixture(scope="module", params=sorted(MATCH_THRESHOLDS))
def samples(request, single_face_photos):
    """The photos read by each face model's pipeline: (model, samples)."""
    return request.param, read_samples(
        single_face_photos,
        pipeline=face_pipeline(request.param),
        decode=lambda label, content: decode_image(label, content).pixels,
        cache=False,
    )


@pytest.fixture(scope="module")
def samples_read_thoroughly(single_face_photos):
    """The photos as the server read them before the cheap-first schedule: the identity tokens'
    population and gates were fitted on these, and stay, so that issued tokens keep their bits."""
    config = dataclasses.replace(face_pipeline("Dlib").config, detect_schedule="thorough")
    return read_samples(
        single_face_photos,
        pipeline=FacePipeline(config),
        decode=lambda label, content: decode_image(label, content).pixels,
        cache=False,
    )


@pytest.mark.faces
def test_the_thresholds_in_use_are_the_calibrations_fit(samples):
    model, read = samples
    assert match_thresholds(read, TARGET_FALSE_MATCH_RATES) == MATCH_THRESHOLDS[model]


@pytest.mark.faces
def test_the_token_gates_and_population_in_use_are_the_calibrations_fit(samples_read_thoroughly):
    fit = token_fit(samples_read_thoroughly, TARGET_FALSE_MATCH_RATES, 3, model="Dlib")
    assert fit.gates == ERRORS_ALLOWED["Dlib"]
    assert fit.cell_width == CELL_WIDTH["Dlib"] == 1
    population = population_of(samples_read_thoroughly)
    assert np.abs(population.mean - DEPLOYED["Dlib"].mean).max() < 1e-6
    assert np.abs(population.spread - DEPLOYED["Dlib"].spread).max() < 1e-6


@pytest.mark.faces
def test_the_sface_token_gates_and_population_in_use_are_the_calibrations_fit(single_face_photos):
    read = read_samples(
        single_face_photos,
        pipeline=face_pipeline("SFace"),
        decode=lambda label, content: decode_image(label, content).pixels,
        cache=False,
    )
    fit = token_fit(read, TARGET_FALSE_MATCH_RATES, 3, model="SFace")
    assert fit.gates == ERRORS_ALLOWED["SFace"]
    assert fit.cell_width == CELL_WIDTH["SFace"] > 1
    # The widest cells, in hundredths, that keep the fitted impostor tail at the code's limit within
    # the strictest level's target: a hundredth wider and the tail passes it.
    strictest = min(TARGET_FALSE_MATCH_RATES.values())
    stats = population_of(read)
    assert rate_at_limit(read, stats.widened(fit.cell_width), 3) <= strictest
    assert rate_at_limit(read, stats.widened(fit.cell_width + 0.01), 3) > strictest
    population = population_of(read).widened(CELL_WIDTH["SFace"])
    assert np.abs(population.mean - DEPLOYED["SFace"].mean).max() < 1e-6
    assert np.abs(population.spread - DEPLOYED["SFace"].spread).max() < 1e-6


@pytest.mark.faces
def test_calibrate_match_prints_the_held_out_table(face_photos, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    call_command("calibrate_match", model="Dlib")
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(rows) == 8
    assert "1 in 1,000" in rows[0] and "of 1,534)" in rows[0] and "of 119)" in rows[0]
    assert "matching/accuracy.py holds these thresholds for Dlib." in out
    assert list(tmp_path.glob("facenition/embeddings/*.npz"))  # the cache lives where it was told to


def test_a_fit_on_two_people_has_finite_thresholds():
    draw = np.random.default_rng(5)
    samples = [fake(person, draw.standard_normal(128)) for person in ("a", "a", "b", "b")]
    thresholds = match_thresholds(samples, TARGET_FALSE_MATCH_RATES)
    assert all(np.isfinite(value) for value in thresholds.values())
