"""Recomputes the /match accuracy table over every genuine and impostor pair in the shared faces.

    .venv/bin/python scripts/calibrate_match.py            # the table for the thresholds in use
    .venv/bin/python scripts/calibrate_match.py --propose  # also proposes thresholds

Photos are read exactly as the endpoint reads them (image intake, then the pipeline's largest
face); only photos labelled with one face and an identity take part.
"""

import argparse
import itertools
import math
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "facenition.settings")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from django.conf import settings  # noqa: E402

from facenition.faceset import FaceSetMissing, labelled_photos  # noqa: E402
from matching.accuracy import MATCH_THRESHOLDS  # noqa: E402
from matching.pipeline import cosine_distance, decode_image  # noqa: E402
from matching.services import face_pipeline  # noqa: E402


def embed_all(photos):
    pipeline = face_pipeline().load()
    embeddings = {}
    for photo in photos:
        image = decode_image(photo.file, photo.read())
        face = pipeline.analyse(image.pixels).largest
        if face is None:
            print(f"  no face found in {photo.file}; left out", file=sys.stderr)
            continue
        embeddings[photo.file] = (photo.identity, face.embedding)
    return embeddings


def pair_distances(embeddings):
    genuine, impostor = [], []
    for (_, (id_a, emb_a)), (_, (id_b, emb_b)) in itertools.combinations(embeddings.items(), 2):
        (genuine if id_a == id_b else impostor).append(cosine_distance(emb_a, emb_b))
    return np.array(genuine), np.array(impostor)


def normal_tail(values, threshold):
    """P(distance ≤ threshold) under a normal fitted to the impostor distances: an estimate of the
    false-match rate below what a few thousand pairs can show (0 seen bounds it only at 3/n)."""
    z = (threshold - values.mean()) / values.std(ddof=1)
    return 0.5 * math.erfc(-z / math.sqrt(2))


def print_table(thresholds, genuine, impostor):
    print(
        f"| level | cosine distance ≤ | false-match rate ({len(impostor)} impostor pairs) "
        f"| estimated false-match rate (normal fit) | false-non-match rate ({len(genuine)} genuine pairs) |"
    )
    print("|---|---|---|---|---|")
    for level, threshold in thresholds.items():
        false_matches = int((impostor <= threshold).sum())
        false_non_matches = int((genuine > threshold).sum())
        print(
            f"| {level} | {threshold:.3f} | {false_matches / len(impostor):.2%} ({false_matches}) "
            f"| 1 in {1 / normal_tail(impostor, threshold):,.0f} "
            f"| {false_non_matches / len(genuine):.2%} ({false_non_matches}) |"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--propose", action="store_true", help="print the distance distributions and proposed thresholds"
    )
    args = parser.parse_args()

    try:
        photos = [p for p in labelled_photos(settings.FACENITION_FACES_DIR) if p.shows_one_known_person]
    except FaceSetMissing as missing:
        sys.exit(str(missing))
    embeddings = embed_all(photos)
    genuine, impostor = pair_distances(embeddings)
    identities = len({identity for identity, _ in embeddings.values()})
    print(
        f"{len(embeddings)} photos of {identities} people: {len(genuine)} genuine pairs, {len(impostor)} impostor pairs\n"
    )
    if args.propose:
        for name, values in (("genuine", genuine), ("impostor", impostor)):
            q = np.percentile(values, [0, 1, 5, 50, 95, 99, 100])
            print(
                f"{name:8s} min {q[0]:.3f}  p1 {q[1]:.3f}  p5 {q[2]:.3f}  median {q[3]:.3f}  p95 {q[4]:.3f}  p99 {q[5]:.3f}  max {q[6]:.3f}"
            )
        print()
    print_table(MATCH_THRESHOLDS, genuine, impostor)


if __name__ == "__main__":
    main()
