"""Fits the identity tokens' gates to the levels' target false-match rates and measures them on people held out.

    python manage.py calibrate_enrollment [--photos 3]

Every 3 single-face photos of each person in the shared face set are enrolled through the
protection scheme (a fresh seed, rotation and key each time) and tried against every other photo of
that person (genuine) and every photo of everyone else (impostor), one live photo per attempt. Each
enrollment is judged by a fit (population statistics, cell width for the models whose width is
fitted, gates, `/generate`'s one-person check) made without its person; each impostor attempt by a
fit made without either person.
"""

import time

from django.core.management.base import BaseCommand

from enrollment.calibration import token_cross_validation, token_fit
from enrollment.protection import ERRORS_ALLOWED, warm_up
from enrollment.protection.binarisation import CELL_WIDTH, FITTED_CELL_WIDTH
from matching.accuracy import TARGET_FALSE_MATCH_RATES
from matching.calibration import one_in, rate_cell, upper_bound
from matching.management.pipeline_options import add_pipeline_arguments, describe, samples_from_options


class Command(BaseCommand):
    help = __doc__.splitlines()[0]

    def add_arguments(self, parser):
        parser.add_argument("--photos", type=int, default=3, help="photos per enrollment (default 3)")
        add_pipeline_arguments(parser)

    def handle(self, *args, **options):
        started = time.perf_counter()
        samples, config, refused_photos, quality = samples_from_options(options, self.stderr)
        warm_up()
        photos = options["photos"]
        model = config.model_name
        results = token_cross_validation(samples, TARGET_FALSE_MATCH_RATES, photos, options["fit"], model=model)
        fitted = token_fit(samples, TARGET_FALSE_MATCH_RATES, photos, options["fit"], model=model)
        out = self.stdout.write
        people = len({s.identity for s in samples})
        out(
            f"{len(samples)} single-face photos of {people} people ({describe(config, quality, options['fit'])}); "
            f"{photos}-photo enrollments, one live photo per attempt; {time.perf_counter() - started:.0f} s"
            + (f"; {len(refused_photos)} photos refused: {', '.join(refused_photos)}" if refused_photos else "")
        )
        out(
            "Held out: an enrollment is judged by population statistics, gates and one-person check fitted "
            "without its person, an impostor attempt by a fit without either person."
        )
        if model in FITTED_CELL_WIDTH:
            out(
                f"Cells {fitted.cell_width:g} population spreads wide (fit on all; each fold fits its own): the widest "
                f"at which the fitted impostor rate at the code's limit is at most {one_in(min(TARGET_FALSE_MATCH_RATES.values()))}.\n"
            )
        else:
            out(f"Cells {fitted.cell_width:g} population spreads wide ({model}'s, fixed).\n")
        out(
            "| level | target false-match rate | bit errors corrected ≤ (fit on all) | impostors accepted, held out "
            "| 95% upper bound | genuine accepted, held out |"
        )
        out("|---|---|---|---|---|---|")
        for level, target in TARGET_FALSE_MATCH_RATES.items():
            n, k = results.impostor.attempts[level], results.impostor.accepted[level]
            out(
                f"| {level} | {one_in(target)} | {fitted.gates[level]} | {rate_cell(k, n)} "
                f"| {one_in(upper_bound(k, n))} "
                f"| {rate_cell(results.genuine.accepted[level], results.genuine.attempts[level])} |"
            )
        out(
            f"\nEnrollments refused by the one-person check: {rate_cell(results.refused, results.enrollments)}. "
            f"Closest impostor attempt: {results.closest_impostor_bits} bits from the enrollment "
            f"(the code corrects at most {max(fitted.gates.values())}; there the fit on all people puts the "
            f"false-match rate at {one_in(fitted.rate_at_limit)})."
        )
        if fitted.gates == ERRORS_ALLOWED.get(model):
            out(f"enrollment/protection/scheme.py holds these gates for {model}.")
        else:
            out(
                f"enrollment/protection/scheme.py holds other gates for {model}; the fit on all people "
                f"gives:\nERRORS_ALLOWED[{model!r}] = {fitted.gates}"
            )
        if fitted.cell_width == CELL_WIDTH.get(model):
            out(f"enrollment/protection/binarisation.py holds this cell width for {model}.")
        else:
            out(
                f"enrollment/protection/binarisation.py holds another cell width for {model}; the fit on all people "
                f"gives:\nCELL_WIDTH[{model!r}] = {fitted.cell_width:g}"
            )
