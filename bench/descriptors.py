"""What each descriptor variant costs per photo, against the plain descriptor.

    python -m bench.descriptors [--repeat 3]

On every single-face photo of the shared face set, after a warm-up, `FacePipeline.analyse` (detect,
align, embed) is timed once per variant in turn, photo by photo, so a disturbance on the shared
machine hits every variant alike. Each photo's time is the median of its repeats; the table gives
the median over the photos and the median of each photo's ratio to the plain descriptor. Decoding
is left out: it is the same for every variant.
"""

from bench.common import require_module_run

require_module_run(__package__)

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "facenition.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from bench.common import load, machine, table  # noqa: E402
from facenition.faceset import labelled_photos  # noqa: E402
from matching.pipeline import FacePipeline, decode_image  # noqa: E402
from matching.reading import pipeline_config  # noqa: E402

VARIANTS = {
    "plain": {"descriptor": "plain"},
    "mirror (chip + its mirror image)": {"descriptor": "mirror"},
    "jitters 8": {"jitters": 8},
    "mirror + jitters 4": {"descriptor": "mirror", "jitters": 4},
    "aligned on the detection copy": {"align_on": "detection"},
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per photo and variant (default 3)")
    args = parser.parse_args()
    base = dataclasses.replace(pipeline_config(), descriptor="plain", jitters=0, align_on="photo")
    pipelines = {name: FacePipeline(dataclasses.replace(base, **change)).load() for name, change in VARIANTS.items()}
    photos = [p for p in labelled_photos(settings.FACENITION_FACES_DIR) if p.shows_one_known_person]
    pixels = [decode_image(p.file, p.read()).pixels for p in photos]
    for pipeline in pipelines.values():
        pipeline.analyse(pixels[0])
    print(machine(), flush=True)
    times = {name: [] for name in pipelines}
    for rgb in pixels:
        for name, pipeline in pipelines.items():
            runs = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                pipeline.analyse(rgb)
                runs.append(time.perf_counter() - started)
            times[name].append(statistics.median(runs))
    plain = times["plain"]
    rows = [
        [
            name,
            f"{1000 * statistics.median(values):.0f}",
            f"{statistics.median(v / p for v, p in zip(values, plain, strict=True)):.2f}×",
        ]
        for name, values in times.items()
    ]
    print(f"\n{len(pixels)} single-face photos, {args.repeat} runs each, load {load()}\n")
    print(table(["variant", "median ms per photo", "per-photo ratio to plain, median"], rows))


if __name__ == "__main__":
    main()
