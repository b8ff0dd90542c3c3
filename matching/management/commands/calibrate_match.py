"""Fits /match's thresholds to the levels' target false-match rates and measures them on people held out.

    python manage.py calibrate_match                         # the table for the configured pipeline
    python manage.py calibrate_match --descriptor mirror     # the same for another descriptor variant
    python manage.py calibrate_match --model SFace           # the same for another face model

Photos are read as the endpoint reads them (image intake, then the pipeline's largest face); only
photos labelled with one face and an identity take part. A genuine pair is judged by thresholds
fitted without its person, an impostor pair by thresholds fitted without either of its people.
"""

import dataclasses
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from facenition.faceset import FaceSetMissing, labelled_photos
from matching.accuracy import MATCH_THRESHOLDS, TARGET_FALSE_MATCH_RATES
from matching.calibration import (
    FITS,
    match_cross_validation,
    match_thresholds,
    one_in,
    pair_distances,
    rate_cell,
    read_samples,
    upper_bound,
)
from matching.pipeline import ALIGN_ON, DESCRIPTORS, OWN_MODELS, SCHEDULES, decode_image, get_pipeline
from matching.services import face_quality_problem, pipeline_config


def add_pipeline_arguments(parser):
    parser.add_argument("--model", choices=OWN_MODELS, help="face model (default: the setting)")
    parser.add_argument("--descriptor", choices=DESCRIPTORS, help="descriptor variant (default: the setting)")
    parser.add_argument("--jitters", type=int, help="dlib's jittered copies per face (default: the setting)")
    parser.add_argument("--align-on", choices=ALIGN_ON, help="where the face is aligned (default: the setting)")
    parser.add_argument("--detect-schedule", choices=SCHEDULES, help="dlib's detection schedule (default: the setting)")
    parser.add_argument("--min-face-size", type=int, help="refuse narrower faces (default: the setting)")
    parser.add_argument("--min-sharpness", type=float, help="refuse blurrier faces (default: the setting)")
    parser.add_argument("--no-cache", action="store_true", help="read every photo again, cache nothing")
    parser.add_argument("--fit", choices=FITS, default=FITS[0], help="how the impostor distribution is fitted")


def samples_from_options(options, stderr):
    """The shared set's single-face photos read by the pipeline the options describe, less the faces the
    quality settings refuse: (samples, pipeline config, refused file names)."""
    overrides = {
        name: options[option]
        for name, option in (
            ("model_name", "model"),
            ("descriptor", "descriptor"),
            ("jitters", "jitters"),
            ("align_on", "align_on"),
            ("detect_schedule", "detect_schedule"),
        )
        if options.get(option) is not None
    }
    config = dataclasses.replace(pipeline_config(), **overrides)
    try:
        photos = [p for p in labelled_photos(settings.FACENITION_FACES_DIR) if p.shows_one_known_person]
    except FaceSetMissing as missing:
        raise CommandError(str(missing)) from None
    samples = read_samples(
        photos,
        pipeline=get_pipeline(config),
        decode=lambda label, content: decode_image(label, content).pixels,
        cache=not options["no_cache"],
        on_missing=lambda name: stderr.write(f"  no face found in {name}; left out"),
    )
    min_size = settings.FACENITION_MIN_FACE_SIZE if options["min_face_size"] is None else options["min_face_size"]
    min_sharpness = (
        settings.FACENITION_MIN_FACE_SHARPNESS if options["min_sharpness"] is None else options["min_sharpness"]
    )
    kept: list[str] = []
    refused: list[str] = []
    for sample in samples:
        problem = face_quality_problem(sample.size, sample.sharpness, min_size=min_size, min_sharpness=min_sharpness)
        (refused if problem else kept).append(sample.file)
    refused_set = set(refused)
    return [s for s in samples if s.file not in refused_set], config, refused, (min_size, min_sharpness)


def describe(config, quality, fit):
    min_size, min_sharpness = quality
    text = (
        f"{config.model_name}, descriptor {config.descriptor}, jitters {config.jitters}, "
        f"aligned on the {config.align_on}, detection {config.detect_schedule}, {fit} fit"
    )
    if min_size or min_sharpness:
        text += f", faces under {min_size} px or sharpness {min_sharpness:g} refused"
    return text


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
