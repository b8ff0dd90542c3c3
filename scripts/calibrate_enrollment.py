"""Measures the identity tokens' accuracy levels through the real services and prints the table.

    .venv/bin/python scripts/calibrate_enrollment.py

For every person in the shared face set with 3 or more single-face photos, every 3 of their photos
are enrolled with `enrollment_generate` once per accuracy level (a fresh token each time, as a
client would get). Each token is then tried with `enrollment_authenticate` against every other
photo of that person (genuine attempts) and every photo of everyone else (impostor attempts).
The pipeline reads each photo once; its answers are reused, which changes nothing but the time.
The run uses a throwaway test database, and clears a token's failure counters after each failed
attempt so that the lockout does not cut the measurement short.
"""

import itertools
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "facenition.settings")
os.environ.setdefault("SECRET_KEY", "calibration-only-" + "x" * 40)
# One request at a time, as a web worker serves them: thread pools only thrash on a shared box.
for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.test.utils import setup_databases, teardown_databases  # noqa: E402

from credentials.services import client_token_issue  # noqa: E402
from enrollment.models import Enrollment  # noqa: E402
from enrollment.protection import ERRORS_ALLOWED, warm_up  # noqa: E402
from enrollment.services import enrollment_authenticate, enrollment_generate  # noqa: E402
from facenition.errors import BadRequest  # noqa: E402
from facenition.faceset import FaceSetMissing, labelled_photos  # noqa: E402
from matching.pipeline import FacePipeline, decode_image  # noqa: E402
from matching.services import face_pipeline  # noqa: E402

ENROLLMENT_PHOTOS = 3


def photos_by_person(photos):
    people = defaultdict(list)
    for photo in photos:
        if photo.shows_one_known_person:
            people[photo.identity].append(decode_image(photo.file, photo.read()))
    return people


def read_each_photo_once():
    analyse = FacePipeline.analyse
    seen = {}

    def remembered(pipeline, rgb):
        key = id(rgb)
        if key not in seen:
            seen[key] = (rgb, analyse(pipeline, rgb))  # keeps rgb alive, so its id stays unique
        return seen[key][1]

    FacePipeline.analyse = remembered


class Tally:
    def __init__(self):
        self.accepted = defaultdict(int)
        self.attempts = defaultdict(int)

    def add(self, level, accepted):
        self.attempts[level] += 1
        self.accepted[level] += bool(accepted)

    def cell(self, level):
        n, k = self.attempts[level], self.accepted[level]
        return f"{k / n:.1%} ({k} of {n:,})" if n else "—"


def attempt(client, token, image, level):
    result = enrollment_authenticate(client=client, token=token, images=[image], accuracy=level)
    if not result.authenticated:
        Enrollment.objects.filter(pk=result.enrollment.pk).update(
            consecutive_failures=0, last_failure_at=None, locked_at=None
        )
    return result.authenticated


def calibrate(people):
    client = client_token_issue(name="calibration")[0].client
    genuine, impostor, refused = Tally(), Tally(), Tally()
    for person, photos in people.items():
        if len(photos) < ENROLLMENT_PHOTOS:
            continue
        others = [image for other, images in people.items() if other != person for image in images]
        for enrolled in itertools.combinations(range(len(photos)), ENROLLMENT_PHOTOS):
            probes = [photo for index, photo in enumerate(photos) if index not in enrolled]
            for level in ERRORS_ALLOWED:
                try:
                    _, token = enrollment_generate(client=client, images=[photos[i] for i in enrolled], accuracy=level)
                except BadRequest:
                    refused.add(level, True)
                    continue
                refused.add(level, False)
                for probe in probes:
                    genuine.add(level, attempt(client, token, probe, level))
                for probe in others:
                    impostor.add(level, attempt(client, token, probe, level))
        print(f"  {person}: done", file=sys.stderr, flush=True)
    return genuine, impostor, refused


def main():
    try:
        photos = labelled_photos(settings.FACENITION_FACES_DIR)
    except FaceSetMissing as missing:
        sys.exit(str(missing))
    started = time.perf_counter()
    people = photos_by_person(photos)
    face_pipeline().load()
    warm_up()
    read_each_photo_once()
    databases = setup_databases(verbosity=0, interactive=False, serialized_aliases=set())
    try:
        genuine, impostor, refused = calibrate(people)
    finally:
        teardown_databases(databases, verbosity=0)
    photo_count = sum(len(photos) for photos in people.values())
    print(
        f"{photo_count} single-face photos of {len(people)} people; {ENROLLMENT_PHOTOS}-photo enrollments, "
        f"one live photo per attempt; {time.perf_counter() - started:.0f} s\n"
    )
    print(
        "| level | bit errors corrected ≤ | genuine accept | impostor accept | enrollments refused (photos disagree) |"
    )
    print("|---|---|---|---|---|")
    for level, errors in ERRORS_ALLOWED.items():
        print(f"| {level} | {errors} | {genuine.cell(level)} | {impostor.cell(level)} | {refused.cell(level)} |")


if __name__ == "__main__":
    main()
