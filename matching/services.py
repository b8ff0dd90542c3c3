"""/match: 1:1 comparison of two sets of photos, read through `matching.reading`. Nothing is stored.
Galleries (1:N, `/gallery/...`) are `matching.galleries`."""

from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings

from .accuracy import is_match, strictest_matching_level
from .reading import FaceReading, Readable, cosine_distance, faces_read, mean_embedding


@dataclass(frozen=True)
class MatchResult:
    match: bool
    accuracy: int
    max_accuracy: int
    image_faces: list[FaceReading]
    reference_faces: list[FaceReading]


def faces_match(*, images: Sequence[Readable], references: Sequence[Readable], accuracy: int) -> MatchResult:
    """1:1 comparison of two sets of photos; the largest face of each photo counts. Nothing is stored."""
    # Read together, so that the photos go side by side; an error names the first failing photo,
    # images before references, as when each set was read on its own.
    model = settings.FACENITION_MODEL
    readings = faces_read(images=[*images, *references], model_name=model)
    probe, claimed = readings[: len(images)], readings[len(images) :]
    distance = cosine_distance(mean_embedding(probe), mean_embedding(claimed))
    return MatchResult(
        match=is_match(distance, accuracy, model),
        accuracy=accuracy,
        max_accuracy=strictest_matching_level(distance, model),
        image_faces=list(probe),
        reference_faces=list(claimed),
    )
