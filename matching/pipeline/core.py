import threading
from dataclasses import dataclass, field

import numpy as np

from .weights import SHAPE_PREDICTOR, WeightsMissing, missing_weights, weights_dir

DESCRIPTORS = ("plain", "mirror")
ALIGN_ON = ("photo", "detection")
CHIP_SIDE = 150


@dataclass(frozen=True)
class PipelineConfig:
    model_name: str = "Dlib"
    detector_name: str = "dlib"
    detect_max_side: int = 640
    deepface_home: str | None = None
    # Dlib only. "mirror" averages the descriptors of the aligned chip and of its mirror image;
    # `jitters` asks dlib for that many randomly jittered copies more; `align_on` says whether the
    # landmarks and the chip come from the full-size photo or from the detection copy.
    descriptor: str = "plain"
    jitters: int = 0
    align_on: str = "photo"

    def __post_init__(self):
        if self.descriptor not in DESCRIPTORS:
            raise ValueError(f"descriptor: one of {', '.join(DESCRIPTORS)}, not {self.descriptor!r}")
        if self.align_on not in ALIGN_ON:
            raise ValueError(f"align_on: one of {', '.join(ALIGN_ON)}, not {self.align_on!r}")
        if not 0 <= self.jitters <= 100:
            raise ValueError(f"jitters: between 0 and 100, not {self.jitters}")

    @property
    def variant(self):
        """Everything that decides an embedding, as one string (the calibration cache keys on it)."""
        return (
            f"{self.model_name}-{self.detector_name}-{self.detect_max_side}-{self.descriptor}"
            f"-j{self.jitters}-{self.align_on}"
        )


@dataclass(frozen=True)
class Box:
    left: int
    top: int
    right: int
    bottom: int

    @property
    def area(self):
        return max(0, self.right - self.left) * max(0, self.bottom - self.top)

    def as_dict(self):
        return {"left": self.left, "top": self.top, "width": self.right - self.left, "height": self.bottom - self.top}


@dataclass(frozen=True)
class Face:
    box: Box
    confidence: float
    embedding: np.ndarray = field(repr=False)
    # Variance of the Laplacian of the face, grey, scaled to 150 px wide: low when blurred.
    sharpness: float = 0.0

    @property
    def size(self):
        """The face's width in pixels of the full-size photo."""
        return self.box.right - self.box.left


@dataclass(frozen=True)
class Analysis:
    width: int
    height: int
    faces: list  # of Face, largest first

    @property
    def largest(self):
        return self.faces[0] if self.faces else None


def cosine_distance(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(1.0 - np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def sharpness(rgb, box):
    """Variance of the Laplacian of the face region, grey and scaled to 150 px wide."""
    import cv2

    crop = rgb[box.top : box.bottom, box.left : box.right]
    if crop.size == 0:
        return 0.0
    grey = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY)
    height = max(1, round(grey.shape[0] * CHIP_SIDE / grey.shape[1]))
    grey = cv2.resize(grey, (CHIP_SIDE, height), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


class FacePipeline:
    """Detects faces and embeds them. Thread-safe after `load()`; load it once per process."""

    def __init__(self, config=PipelineConfig()):
        self.config = config
        self._lock = threading.Lock()
        self._loaded = False

    def load(self):
        with self._lock:
            if self._loaded:
                return self
            missing = missing_weights(self.config.model_name, self.config.detector_name, self.config.deepface_home)
            if missing:
                raise WeightsMissing(
                    f"model weights missing from {weights_dir(self.config.deepface_home)}: {', '.join(missing)}; "
                    "run `make setup` (or `python manage.py place_weights`)."
                )
            from deepface.modules import modeling

            self.detector = modeling.build_model(task="face_detector", model_name=self.config.detector_name)
            self.model = modeling.build_model(task="facial_recognition", model_name=self.config.model_name)
            if self.config.model_name == "Dlib":
                import dlib

                self._dlib = dlib
                self._shape_predictor = dlib.shape_predictor(
                    str(weights_dir(self.config.deepface_home) / SHAPE_PREDICTOR)
                )
                self._descriptor = self.model.model.model
            self._loaded = True
        return self

    def warm_up(self):
        """Loads the models and runs them once on a blank photo: what a first call would pay for besides
        the loading (OpenCV's import and first resize, the detector's buffers) is paid now."""
        self.load()
        side = 2 * self.config.detect_max_side
        self.analyse(np.full((side * 3 // 4, side, 3), 128, dtype=np.uint8))
        return self

    def analyse(self, rgb):
        """All faces in an RGB image, largest first, each with its embedding."""
        if not self._loaded:
            self.load()
        height, width = rgb.shape[:2]
        small, scale = self._downscale(rgb)
        # deepface's detectors take BGR, as OpenCV hands them.
        regions = self.detector.detect_faces(np.ascontiguousarray(small[:, :, ::-1]))
        faces = []
        for region in regions:
            box = Box(
                left=max(0, int(round(region.x / scale))),
                top=max(0, int(round(region.y / scale))),
                right=min(width, int(round((region.x + region.w) / scale))),
                bottom=min(height, int(round((region.y + region.h) / scale))),
            )
            if box.area == 0:
                continue
            embedding = self._embed(rgb, small, box, region, scale)
            faces.append(
                Face(
                    box=box,
                    confidence=float(region.confidence or 0.0),
                    embedding=embedding,
                    sharpness=sharpness(rgb, box),
                )
            )
        faces.sort(key=lambda face: face.box.area, reverse=True)
        return Analysis(width=width, height=height, faces=faces)

    def _downscale(self, rgb):
        height, width = rgb.shape[:2]
        longest = max(height, width)
        if longest <= self.config.detect_max_side:
            return rgb, 1.0
        scale = self.config.detect_max_side / longest
        import cv2

        small = cv2.resize(
            rgb, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA
        )
        return small, scale

    def _embed(self, rgb, small, box, region, scale):
        if self.config.model_name == "Dlib":
            return self._embed_dlib(rgb, small, box, scale)
        return self._embed_generic(rgb, region, scale)

    def _embed_dlib(self, rgb, small, box, scale):
        # dlib's own alignment: 5 landmarks, then a 150x150 chip with 25% padding, which is what
        # the ResNet descriptor was trained on.
        if self.config.align_on == "detection":
            source = small
            rect = self._dlib.rectangle(
                int(box.left * scale), int(box.top * scale), int(box.right * scale), int(box.bottom * scale)
            )
        else:
            source = rgb
            rect = self._dlib.rectangle(box.left, box.top, box.right, box.bottom)
        shape = self._shape_predictor(source, rect)
        chip = self._dlib.get_face_chip(source, shape, size=CHIP_SIDE, padding=0.25)
        chips = [chip]
        if self.config.descriptor == "mirror":
            chips.append(np.ascontiguousarray(chip[:, ::-1]))
        vectors = self._descriptor.compute_face_descriptor(chips, self.config.jitters)
        return np.mean(np.asarray(vectors, dtype=np.float64), axis=0)

    def _embed_generic(self, rgb, region, scale):
        from deepface.models.Detector import FacialAreaRegion
        from deepface.modules import detection, preprocessing

        def up(point):
            return None if point is None else (int(point[0] / scale), int(point[1] / scale))

        full = FacialAreaRegion(
            x=int(region.x / scale),
            y=int(region.y / scale),
            w=int(region.w / scale),
            h=int(region.h / scale),
            left_eye=up(region.left_eye),
            right_eye=up(region.right_eye),
            confidence=region.confidence,
        )
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        face = detection.extract_face(
            facial_area=full,
            img=bgr,
            align=True,
            expand_percentage=0,
            width_border=0,
            height_border=0,
            detector_backend=self.config.detector_name,
        ).img
        face = preprocessing.resize_image(face.astype(np.float32) / 255.0, self.model.input_shape)
        face = preprocessing.normalize_input(face, normalization="base")
        return np.asarray(self.model.forward(face), dtype=np.float64)


_pipelines = {}
_pipelines_lock = threading.Lock()


def get_pipeline(config):
    """The process-wide pipeline for `config`, created on first use (models load lazily)."""
    with _pipelines_lock:
        pipeline = _pipelines.get(config)
        if pipeline is None:
            pipeline = _pipelines[config] = FacePipeline(config)
    return pipeline
