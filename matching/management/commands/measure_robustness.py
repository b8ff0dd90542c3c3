"""How /match's levels hold when a photo is rotated, shrunk, blurred, compressed or lit differently.

    python manage.py measure_robustness

Each single-face photo of the shared face set is altered at run time (nothing is written next to the
photos or into the repository) and read as the endpoint reads an upload: encoded, decoded, then the
pipeline's largest face. Each altered photo is compared with the unaltered photos of the same person
(genuine pairs) and of everyone else (impostor pairs), at the thresholds in use. These are not
calibration pairs: the levels are fitted on unaltered photos only (`calibrate_match`).
"""

import io
import itertools

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

from facenition.faceset import labelled_photos
from matching.accuracy import MATCH_THRESHOLDS
from matching.calibration import rate_cell, read_samples
from matching.management.pipeline_options import add_pipeline_arguments, samples_from_options
from matching.pipeline import cosine_distance, decode_image, get_pipeline

LEVELS = (1, 2, 4, 8)


def rotated(degrees):
    return lambda image: image.rotate(
        degrees, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=(128, 128, 128)
    )


def scaled(factor):
    def scale(image):
        size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
        return image.resize(size, Image.Resampling.LANCZOS)

    return scale


def blurred(radius):
    return lambda image: image.filter(ImageFilter.GaussianBlur(radius))


def brightness(factor):
    return lambda image: ImageEnhance.Brightness(image).enhance(factor)


def side_light(image):
    """Light falling from the left: brightness from 130% on the left edge down to 30% on the right."""
    pixels = np.asarray(image, dtype=np.float64)
    ramp = np.linspace(1.3, 0.3, pixels.shape[1])[None, :, None]
    return Image.fromarray(np.clip(pixels * ramp, 0, 255).astype(np.uint8))


# name -> (alteration, JPEG quality it is saved at; None saves a lossless PNG)
ALTERATIONS = {
    "none (PNG of the decoded photo)": (lambda image: image, None),
    "rotated 10°": (rotated(10), None),
    "rotated 25°": (rotated(25), None),
    "scaled to 50%": (scaled(0.5), None),
    "scaled to 25%": (scaled(0.25), None),
    "scaled to 12.5%": (scaled(0.125), None),
    "Gaussian blur, radius 2 px": (blurred(2), None),
    "Gaussian blur, radius 5 px": (blurred(5), None),
    "JPEG quality 30": (lambda image: image, 30),
    "JPEG quality 10": (lambda image: image, 10),
    "darker (brightness 40%)": (brightness(0.4), None),
    "brighter (brightness 170%)": (brightness(1.7), None),
    "side light (130% → 30%)": (side_light, None),
}


class Altered:
    """A labelled photo after an alteration, encoded as an upload would be."""

    def __init__(self, photo, alteration, quality):
        self.photo, self.alteration, self.quality = photo, alteration, quality
        self.file, self.identity = photo.file, photo.identity

    def read(self):
        image = ImageOps.exif_transpose(Image.open(io.BytesIO(self.photo.read()))).convert("RGB")
        buffer = io.BytesIO()
        if self.quality is None:
            self.alteration(image).save(buffer, format="PNG", compress_level=1)
        else:
            self.alteration(image).save(buffer, format="JPEG", quality=self.quality)
        return buffer.getvalue()


class Command(BaseCommand):
    help = __doc__.splitlines()[0]

    def add_arguments(self, parser):
        add_pipeline_arguments(parser)

    def handle(self, *args, **options):
        originals, config, _, _ = samples_from_options(options, self.stderr)
        photos = {p.file: p for p in labelled_photos(settings.FACENITION_FACES_DIR)}
        pipeline = get_pipeline(config)
        out = self.stdout.write
        out(
            f"{len(originals)} single-face photos, each altered and compared with the unaltered photos of the same "
            f"person (genuine) and of everyone else (impostor), at the thresholds in use "
            f"(descriptor {config.descriptor}). A photo whose face is not found is left out of the pairs.\n"
        )
        header = " | ".join(f"genuine pairs accepted, level {level}" for level in LEVELS)
        out(
            f"| alteration | face found | face width, median px | sharpness, median | {header} "
            "| impostors accepted, level 1 |"
        )
        out("|---|---|---|---|" + "---|" * len(LEVELS) + "---|")
        for name, (alteration, quality) in ALTERATIONS.items():
            altered = read_samples(
                [Altered(photos[s.file], alteration, quality) for s in originals],
                pipeline=pipeline,
                decode=lambda label, content: decode_image(label, content).pixels,
                cache=not options["no_cache"],
            )
            genuine = {level: [0, 0] for level in LEVELS}
            impostor = [0, 0]
            for probe, reference in itertools.product(altered, originals):
                if probe.file == reference.file:
                    continue
                distance = cosine_distance(probe.embedding, reference.embedding)
                if probe.identity == reference.identity:
                    for level in LEVELS:
                        genuine[level][0] += distance <= MATCH_THRESHOLDS[config.model_name][level]
                        genuine[level][1] += 1
                else:
                    impostor[0] += distance <= MATCH_THRESHOLDS[config.model_name][1]
                    impostor[1] += 1
            width = int(np.median([s.size for s in altered])) if altered else 0
            sharpness = int(np.median([s.sharpness for s in altered])) if altered else 0
            cells = " | ".join(rate_cell(*genuine[level]) for level in LEVELS)
            out(
                f"| {name} | {len(altered)} of {len(originals)} | {width} | {sharpness} | {cells} "
                f"| {rate_cell(*impostor)} |"
            )
