"""Runs the threat model's attacks on identity tokens over the shared face set and prints the figures
the threat model in docs/security.md states.

    .venv/bin/python manage.py attack_tokens

For every person with 4 or more single-face photos, three tokens are sealed under one token key
exactly as /generate seals them: photos 1-3, photos 1-3 again (a fresh seed: another client, or the
same client again) and photos 4-6, or as many of them as there are (what /rotate with new photos
gives). The attacks of
`enrollment.protection.attacks` then run with the key and without it:
- inversion: rebuild an embedding from the first token, compare it with the person's photos, and
  try it on the person's other tokens and on everyone else's;
- linking: call every pair of tokens one face or not, by comparing the rebuilt embeddings and by
  the code-offset link (XOR of the two helpers, decoded).
"""

import itertools
import statistics
import time
import uuid
from collections import defaultdict

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from enrollment.protection import IdentityToken, accepts, commit, open_commitment
from enrollment.protection.attacks import ATTACK_TRIES, cosine_distance, invert, link
from enrollment.protection.binarisation import DEPLOYED
from facenition.faceset import FaceSetMissing, labelled_photos
from facenition.keyring import TokenKey
from matching.accuracy import DEFAULT_ACCURACY, MATCH_THRESHOLDS
from matching.reading import decode_image, face_pipeline

PHOTOS_PER_TOKEN = 3
KEY = TokenKey(b"attack measurement key " * 3)


def embeddings_by_person(photos):
    pipeline = face_pipeline()
    people = defaultdict(list)
    for photo in photos:
        if photo.shows_one_known_person:
            people[photo.identity].append(
                pipeline.analyse(decode_image(photo.file, photo.read()).pixels).faces[0].embedding
            )
    return {person: vectors for person, vectors in people.items() if len(vectors) > PHOTOS_PER_TOKEN}


def seal(vectors):
    enrollment_id = uuid.uuid4()
    commitment = commit(
        embedding=np.mean(vectors, axis=0), enrollment_id=enrollment_id.bytes, key=KEY, population=population()
    )
    return IdentityToken(enrollment_id, DEFAULT_ACCURACY, 0, 0, commitment, key=KEY)


def opens(token, embedding):
    errors = open_commitment(
        token.commitment, embedding=embedding, enrollment_id=token.enrollment_id.bytes, key=KEY, population=population()
    )
    return accepts(errors, DEFAULT_ACCURACY, settings.FACENITION_MODEL)


def population():
    return DEPLOYED[settings.FACENITION_MODEL]


def spread(values):
    return f"{min(values):.3f} / {statistics.median(values):.3f} / {max(values):.3f}"


def share(hits, total):
    return f"{hits} of {total} ({hits / total:.0%})" if total else "none"


def measure(print):
    started = time.perf_counter()
    try:
        people = embeddings_by_person(labelled_photos(settings.FACENITION_FACES_DIR))
    except FaceSetMissing as missing:
        raise CommandError(str(missing)) from None
    n = PHOTOS_PER_TOKEN
    tokens = {
        person: {"first": seal(v[:n]), "again": seal(v[:n]), "other photos": seal(v[n : 2 * n])}
        for person, v in people.items()
    }
    print(
        f"{len(people)} people with {n + 1}+ single-face photos ({sum(map(len, people.values()))} photos); "
        f"tokens from {n} photos; {ATTACK_TRIES:,} tries per inversion"
    )

    rebuilt, seconds = {}, []
    for person, own in tokens.items():
        begun = time.perf_counter()
        rebuilt[person] = invert(own["first"], KEY, population=population())
        seconds.append(time.perf_counter() - begun)
    done = {p: vector for p, vector in rebuilt.items() if vector is not None}
    to_enrolled = [cosine_distance(vector, np.mean(people[p][:n], axis=0)) for p, vector in done.items()]
    to_unseen = [cosine_distance(vector, v) for p, vector in done.items() for v in people[p][n:]]
    opened_own = sum(opens(tokens[p][kind], vector) for p, vector in done.items() for kind in ("again", "other photos"))
    opened_other = sum(
        opens(tokens[q][kind], vector) for p, vector in done.items() for q in people if q != p for kind in tokens[q]
    )
    others = sum(len(tokens[q]) for p in done for q in people if q != p)
    print("\nInversion with the key")
    print(f"  embeddings rebuilt: {share(len(done), len(people))}; median {statistics.median(seconds):.2f} s each")
    print(f"  cosine distance to the enrolled mean (min / median / max): {spread(to_enrolled)}")
    print(f"  cosine distance to the person's other photos (min / median / max): {spread(to_unseen)}")
    for level in (8, 4, 1):
        within = sum(d <= MATCH_THRESHOLDS[settings.FACENITION_MODEL][level] for d in to_unseen)
        print(f"  other photos /match calls the same person at level {level}: {share(within, len(to_unseen))}")
    print(f"  unlocks the person's other tokens at level {DEFAULT_ACCURACY}: {share(opened_own, 2 * len(done))}")
    print(f"  unlocks other people's tokens: {share(opened_other, others)}")

    begun = time.perf_counter()
    blind = {person: invert(own["first"], None, population=population()) for person, own in tokens.items()}
    print("\nInversion without the key (the token as it travels)")
    print(
        f"  embeddings rebuilt: {share(sum(v is not None for v in blind.values()), len(people))} "
        f"({time.perf_counter() - begun:.0f} s in all)"
    )

    cache: dict = {}  # each token's inversion, kept across the links it takes part in
    threshold = MATCH_THRESHOLDS[settings.FACENITION_MODEL][1]
    same = [(own["first"], own[kind]) for own in tokens.values() for kind in ("again", "other photos")]
    different = [(tokens[p]["first"], tokens[q]["first"]) for p, q in itertools.combinations(people, 2)]
    for label, key in (("with the key", KEY), ("without the key", None)):
        same_links = [link(a, b, key, population=population(), threshold=threshold, rebuilt=cache) for a, b in same]
        different_links = [
            link(a, b, key, population=population(), threshold=threshold, rebuilt=cache) for a, b in different
        ]
        print(f"\nLinking {label} (one face: both rebuilt, within {threshold:g} of each other, /match's level 1)")
        print(
            f"  same face, same photos, fresh seed or another client: {share(sum(x.linked for x in same_links[::2]), len(same_links[::2]))}"
        )
        print(
            f"  same face, other photos (as after /rotate): {share(sum(x.linked for x in same_links[1::2]), len(same_links[1::2]))}"
        )
        print(f"  two different people: {share(sum(x.linked for x in different_links), len(different_links))}")
        distances = [x.rebuilt_distance for x in same_links + different_links if x.rebuilt_distance is not None]
        code_offset = sum(x.code_offset for x in same_links + different_links)
        print(f"  code-offset link (XOR and decode) succeeded: {share(code_offset, len(same_links + different_links))}")
        if distances:
            same_d = [x.rebuilt_distance for x in same_links if x.rebuilt_distance is not None]
            different_d = [x.rebuilt_distance for x in different_links if x.rebuilt_distance is not None]
            print(f"  rebuilt distance, same face (min / median / max): {spread(same_d)}")
            print(f"  rebuilt distance, different people (min / median / max): {spread(different_d)}")
    print(f"\n{time.perf_counter() - started:.0f} s")


class Command(BaseCommand):
    help = "Runs the threat model's inversion and linking attacks over the shared face set and prints their figures."

    def handle(self, *args, **options):
        measure(self.stdout.write)
