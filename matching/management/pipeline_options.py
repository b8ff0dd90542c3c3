"""What the calibration commands share (`calibrate_match`, `calibrate_enrollment`,
`derive_enrollment_population`, `measure_robustness`): the pipeline options they take, and the
shared face set read by the pipeline those options describe."""

import dataclasses

from django.conf import settings
from django.core.management.base import CommandError

from facenition.faceset import FaceSetMissing, labelled_photos
from matching.calibration import FITS, read_samples
from matching.pipeline import ALIGN_ON, DESCRIPTORS, OWN_MODELS, SCHEDULES, SFACE_LANDMARKS, decode_image, get_pipeline
from matching.reading import face_quality_problem, pipeline_config


def add_pipeline_arguments(parser):
    parser.add_argument("--model", choices=OWN_MODELS, help="face model (default: the setting)")
    parser.add_argument("--descriptor", choices=DESCRIPTORS, help="descriptor variant (default: the setting)")
    parser.add_argument("--jitters", type=int, help="dlib's jittered copies per face (default: the setting)")
    parser.add_argument("--align-on", choices=ALIGN_ON, help="where the face is aligned (default: the setting)")
    parser.add_argument("--detect-schedule", choices=SCHEDULES, help="dlib's detection schedule (default: the setting)")
    parser.add_argument(
        "--sface-landmarks",
        choices=SFACE_LANDMARKS,
        help="SFace only, for measurement: the landmarks that align the face (default: dlib5, what the server runs; "
        "dlib68-non-commercial rests on weights whose training data forbid commercial use)",
    )
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
            ("sface_landmarks", "sface_landmarks"),
        )
        if options.get(option) is not None
    }
    try:
        config = dataclasses.replace(pipeline_config(), **overrides)
    except ValueError as invalid:
        raise CommandError(str(invalid)) from None
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
    if config.model_name == "SFace":
        text += f", landmarks {config.sface_landmarks}"
    if min_size or min_sharpness:
        text += f", faces under {min_size} px or sharpness {min_sharpness:g} refused"
    return text
