"""Fits /match's thresholds to the levels' target false-match rates and measures them on people held out.

    python manage.py calibrate_match                         # the table for the configured pipeline
    python manage.py calibrate_match --descriptor mirror     # the same for another descriptor variant
    python manage.py calibrate_match --model SFace           # the same for another face model

Photos are read as the endpoint reads them (image intake, then the pipeline's largest face); only
photos labelled with one face and an identity take part. A genuine pair is judged by thresholds
fitted without its person, an impostor pair by thresholds fitted without either of its people.
"""

import sys

from django.core.management.base import BaseCommand

from matching.accuracy import MATCH_THRESHOLDS, TARGET_FALSE_MATCH_RATES
from matching.calibration import (
    match_cross_validation,
    match_thresholds,
    one_in,
    pair_distances,
    rate_cell,
    upper_bound,
)
from matching.management.pipeline_options import add_pipeline_arguments, describe, samples_from_options


class Command(BaseCommand):
    help = __doc__.splitlines()[0]

    def add_arguments(self, parser):
        add_pipeline_arguments(parser)

    def handle(self, *args, **options):
        samples, config, refused, quality = samples_from_options(options, self.stderr)
        people = len({s.identity for s in samples})
        genuine_distances, impostor_distances = pair_distances(samples)
        genuine, impostor = match_cross_validation(samples, TARGET_FALSE_MATCH_RATES, options["fit"])
        fitted = match_thresholds(samples, TARGET_FALSE_MATCH_RATES, options["fit"])
        out = self.stdout.write
        out(
            f"{len(samples)} photos of {people} people ({describe(config, quality, options['fit'])}): "
            f"{len(genuine_distances):,} genuine pairs, {len(impostor_distances):,} impostor pairs"
            + (f"; {len(refused)} photos refused: {', '.join(refused)}" if refused else "")
        )
        out(
            "Held out: a genuine pair is judged by thresholds fitted without its person, an impostor pair "
            "by thresholds fitted without either of its people.\n"
        )
        out(
            "| level | target false-match rate | cosine distance ≤ (fit on all) | false matches, held out "
            "| 95% upper bound | false non-matches, held out |"
        )
        out("|---|---|---|---|---|---|")
        for level, target in TARGET_FALSE_MATCH_RATES.items():
            n, k = impostor.attempts[level], impostor.accepted[level]
            rejected = genuine.attempts[level] - genuine.accepted[level]
            out(
                f"| {level} | {one_in(target)} | {fitted[level]:.4f} | {rate_cell(k, n)} "
                f"| {one_in(upper_bound(k, n))} | {rate_cell(rejected, genuine.attempts[level])} |"
            )
        out(
            f"\nClosest impostor pair: {impostor_distances.min():.4f}; farthest genuine pair: "
            f"{genuine_distances.max():.4f}; genuine pairs closer than the closest impostor: "
            f"{(genuine_distances < impostor_distances.min()).mean():.1%}. Narrowest face: "
            f"{min(s.size for s in samples)} px; least sharp: {min(s.sharpness for s in samples):.0f}, "
            f"then {sorted(s.sharpness for s in samples)[1]:.0f}."
        )
        if impostor.examples:
            out(f"Held-out false matches at level 1: {'; '.join(impostor.examples)}.")
        if fitted == MATCH_THRESHOLDS.get(config.model_name):
            out(f"matching/accuracy.py holds these thresholds for {config.model_name}.")
        else:
            out(
                f"matching/accuracy.py holds other thresholds for {config.model_name}; the fit on all people gives:\n"
                f"MATCH_THRESHOLDS[{config.model_name!r}] = {fitted}"
            )
        sys.stdout.flush()
