import logging
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .weights import (
    DESCRIPTOR,
    SFACE,
    SHAPE_PREDICTOR,
    SHAPE_PREDICTOR_68_NON_COMMERCIAL,
    YUNET,
    WeightsMissing,
    missing_weights,
    sha256_of,
    weights_dir,
)

logger = logging.getLogger(__name__)

# The face models this pipeline drives itself, on dlib's detector and 5-point landmarks: dlib's ResNet
# descriptor, and OpenCV Zoo's SFace run through OpenCV's DNN module (deepface's own SFace client
# cannot run the int8 file). Any other name is a deepface model, built and run by deepface.
OWN_MODELS = ("Dlib", "SFace")
DESCRIPTORS = ("plain", "mirror")
ALIGN_ON = ("photo", "detection")
# When dlib's HOG detector looks at the detection copy upsampled (the costly pass, which finds faces
# down to half the size): "thorough" always, and only that pass; "cheap-first" only when the plain
# pass does not find exactly one face, or when every face in the photo must be found.
SCHEDULES = ("cheap-first", "thorough")
CHIP_SIDE = 150
SFACE_SIDE = 112
# Where SFace's alignment puts dlib's five landmarks (outer and inner corner of the eye on the image's
# right, the same of the other eye, the base of the nose) in the 112x112 crop: the mean positions of
# those landmarks in the shared set's faces aligned on the ArcFace five-point template through dlib's
# 68-point model (BENCHMARKS.md, "SFace"). Only these numbers come from that non-commercial model:
# the landmarks found at run time are dlib's 5-point model's, trained on data free for any use.
SFACE_TEMPLATE = ((80.8, 53.0), (66.5, 53.4), (31.1, 52.7), (45.2, 53.3), (55.9, 80.0))
# Which landmarks align SFace's crop. A measurement choice (`calibrate_match --sface-landmarks`), not a
# server setting: "dlib5", dlib's 5-point model, all five points onto SFACE_TEMPLATE (the default, and
# what the server runs); "yunet", the five landmarks of OpenCV Zoo's YuNet detector (Apache-2.0) run on
# a crop around dlib's box; "dlib68-non-commercial", five points taken from dlib's 68-point model, whose
# training data forbid commercial use. The last two go onto the ArcFace five-point template.
SFACE_LANDMARKS = ("dlib5", "yunet", "dlib68-non-commercial")
# The ArcFace template in 112x112: eye on the image's left, the other eye, nose tip, mouth corner on the
# image's left, the other mouth corner.
ARCFACE_TEMPLATE = (
    (38.2946, 51.6963),
    (73.5318, 51.5014),
    (56.0252, 71.7366),
    (41.5493, 92.3655),
    (70.7299, 92.2041),
)
# YuNet looks at dlib's box grown by this fraction of its width on every side, scaled so that its
# longer side is at most YUNET_SIDE pixels.
YUNET_MARGIN = 0.5
YUNET_SIDE = 320
# An RGB photo as the pipeline takes it: height x width x 3, uint8.
RGB = npt.NDArray[np.uint8]


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
    detect_schedule: str = "cheap-first"
    # SFace only: which landmarks align the crop (SFACE_LANDMARKS). Measurement only, never a setting.
    sface_landmarks: str = "dlib5"

    def __post_init__(self) -> None:
        if self.descriptor not in DESCRIPTORS:
            raise ValueError(f"descriptor: one of {', '.join(DESCRIPTORS)}, not {self.descriptor!r}")
        if self.align_on not in ALIGN_ON:
            raise ValueError(f"align_on: one of {', '.join(ALIGN_ON)}, not {self.align_on!r}")
        if self.detect_schedule not in SCHEDULES:
            raise ValueError(f"detect_schedule: one of {', '.join(SCHEDULES)}, not {self.detect_schedule!r}")
        if not 0 <= self.jitters <= 100:
            raise ValueError(f"jitters: between 0 and 100, not {self.jitters}")
        if self.model_name == "SFace" and (self.detector_name != "dlib" or self.descriptor != "plain" or self.jitters):
            raise ValueError("SFace: aligned on dlib's landmarks, so with the dlib detector, plain, no jitters")
        if self.sface_landmarks not in SFACE_LANDMARKS:
            raise ValueError(f"sface_landmarks: one of {', '.join(SFACE_LANDMARKS)}, not {self.sface_landmarks!r}")
        if self.sface_landmarks != "dlib5" and self.model_name != "SFace":
            raise ValueError(f"sface_landmarks {self.sface_landmarks!r}: only with the SFace model")

    @property
    def variant(self) -> str:
        """Everything that decides an embedding, as one string (the calibration cache keys on it, galleries
        record it). The default landmarks add nothing, so that what was recorded before still reads."""
        landmarks = "" if self.sface_landmarks == "dlib5" else f"-lm-{self.sface_landmarks}"
        return (
            f"{self.model_name}-{self.detector_name}-{self.detect_max_side}-{self.descriptor}"
            f"-j{self.jitters}-{self.align_on}-{self.detect_schedule}{landmarks}"
        )

    @property
    def scheduled(self) -> bool:
        """Whether the detection schedule applies: dlib's own detector and descriptor, which this
        pipeline drives directly. Other deepface detectors run once, as deepface runs them."""
        return self.model_name in OWN_MODELS and self.detector_name == "dlib"

    @property
    def own_model(self) -> bool:
        """Whether the model is one this pipeline runs itself, with a `Reader` per thread."""
        return self.model_name in OWN_MODELS


@dataclass(frozen=True)
class Box:
    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def area(self) -> int:
        return max(0, self.width) * max(0, self.height)

    def as_dict(self) -> dict[str, int]:
        return {"left": self.left, "top": self.top, "width": self.width, "height": self.height}


@dataclass(frozen=True)
class DetectedFace:
    box: Box
    confidence: float
    embedding: npt.NDArray[np.float64] = field(repr=False)
    # Variance of the Laplacian of the face, grey, scaled to 150 px wide: low when blurred.
    sharpness: float = 0.0

    @property
    def size(self) -> int:
        """The face's width in pixels of the full-size photo."""
        return self.box.right - self.box.left


@dataclass(frozen=True)
class Analysis:
    width: int
    height: int
    faces: list[DetectedFace]  # the faces embedded, largest first: all of them, or the largest only if asked
    face_count: int = -1  # every face found; -1: as many as `faces`

    def __post_init__(self) -> None:
        if self.face_count < 0:
            object.__setattr__(self, "face_count", len(self.faces))

    @property
    def largest(self) -> DetectedFace | None:
        return self.faces[0] if self.faces else None


@dataclass(frozen=True)
class Found:
    """A face as the detector found it, in the detection copy's pixels."""

    box: Box
    confidence: float
    region: Any = None  # deepface's FacialAreaRegion (eyes included) when deepface detected it


def same_face(a: Box, b: Box) -> bool:
    """Whether two detections are one face: each box's centre lies inside the other. dlib's two
    passes frame one face differently (pyramid levels differ), but never so far apart as that."""

    def inside(box: Box, other: Box) -> bool:
        x, y = (box.left + box.right) / 2, (box.top + box.bottom) / 2
        return other.left <= x <= other.right and other.top <= y <= other.bottom

    return inside(a, b) and inside(b, a)


def cosine_distance(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    first = np.asarray(a, dtype=np.float64)
    second = np.asarray(b, dtype=np.float64)
    return float(1.0 - np.dot(first, second) / (np.linalg.norm(first) * np.linalg.norm(second)))


def sharpness(rgb: RGB, box: Box) -> float:
    """Variance of the Laplacian of the face region, grey and scaled to 150 px wide."""
    import cv2

    crop = rgb[box.top : box.bottom, box.left : box.right]
    if crop.size == 0:
        return 0.0
    grey = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY)
    height = max(1, round(grey.shape[0] * CHIP_SIDE / grey.shape[1]))
    grey = cv2.resize(grey, (CHIP_SIDE, height), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


@dataclass
class Reader:
    """One thread's models. dlib's detector, its descriptor network and OpenCV's DNN net keep working
    buffers in the object, so two threads must not run one object at once: each photo read side by
    side takes a reader of its own (about 30 MB each, built on first need and kept)."""

    detector: Any
    shape_predictor: Any
    descriptor: Any
    # SFace measured on other landmarks: YuNet (cv2.FaceDetectorYN) or dlib's 68-point model.
    landmarker: Any = None


class FacePipeline:
    """Detects faces and embeds them. Thread-safe after `load()`; load it once per process."""

    def __init__(self, config: PipelineConfig = PipelineConfig()) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._loaded = False
        self._idle_readers: queue.SimpleQueue[Reader] = queue.SimpleQueue()
        # Models deepface built are one object per process: used by one thread at a time.
        self._deepface_lock = threading.Lock()

    def load(self) -> "FacePipeline":
        with self._lock:
            if self._loaded:
                return self
            missing = missing_weights(self.config.model_name, self.config.detector_name, self.config.deepface_home)
            missing += self._missing_landmark_weights()
            if missing:
                raise WeightsMissing(
                    f"model weights missing from {weights_dir(self.config.deepface_home)}: {', '.join(missing)}; "
                    "run `make setup` (or `python manage.py place_weights`)."
                )
            if self.config.model_name == "SFace":
                import dlib

                self._dlib = dlib
                self._idle_readers.put(self._new_reader())
                self._loaded = True
                return self
            from deepface.modules import modeling

            self.detector = modeling.build_model(task="face_detector", model_name=self.config.detector_name)
            self.model = modeling.build_model(task="facial_recognition", model_name=self.config.model_name)
            if self.config.model_name == "Dlib":
                import dlib

                self._dlib = dlib
                self._idle_readers.put(
                    Reader(
                        detector=self.detector.model["face_detector"] if self.config.scheduled else None,
                        shape_predictor=self._new_shape_predictor(),
                        descriptor=self.model.model.model,
                    )
                )
            self._loaded = True
        return self

    def _missing_landmark_weights(self) -> list[str]:
        if self.config.sface_landmarks == "yunet":
            path = weights_dir(self.config.deepface_home) / YUNET
            if not path.is_file():
                return [YUNET]
            from .weights import YUNET_SHA256

            return [] if sha256_of(path) == YUNET_SHA256 else [f"{YUNET} (checksum differs)"]
        if self.config.sface_landmarks == "dlib68-non-commercial" and not _shape_predictor_68().is_file():
            return [f"{SHAPE_PREDICTOR_68_NON_COMMERCIAL} (from face_recognition_models)"]
        return []

    def _new_landmarker(self) -> Any:
        if self.config.sface_landmarks == "yunet":
            import cv2

            path = weights_dir(self.config.deepface_home) / YUNET
            # Score threshold 0.5, NMS 0.3, at most 50 faces; the input size is set per crop.
            return cv2.FaceDetectorYN.create(str(path), "", (YUNET_SIDE, YUNET_SIDE), 0.5, 0.3, 50)
        if self.config.sface_landmarks == "dlib68-non-commercial":
            return self._dlib.shape_predictor(str(_shape_predictor_68()))
        return None

    def _new_shape_predictor(self) -> Any:
        return self._dlib.shape_predictor(str(weights_dir(self.config.deepface_home) / SHAPE_PREDICTOR))

    def _new_reader(self) -> Reader:
        folder = weights_dir(self.config.deepface_home)
        if self.config.model_name == "SFace":
            import cv2

            # Fed by name: the int8 file lists its weights as graph inputs too, so OpenCV 5 refuses an
            # unnamed input, and cv2.FaceRecognizerSF cannot run it.
            descriptor = cv2.dnn.readNetFromONNX(str(folder / SFACE))
        else:
            descriptor = self._dlib.face_recognition_model_v1(str(folder / DESCRIPTOR))
        return Reader(
            detector=self._dlib.get_frontal_face_detector() if self.config.scheduled else None,
            shape_predictor=self._new_shape_predictor(),
            descriptor=descriptor,
            landmarker=self._new_landmarker(),
        )

    def add_readers(self, count: int) -> "FacePipeline":
        """Builds readers now, up to `count` in all, so that no request pays for building one."""
        self.load()
        if self.config.own_model:
            for _ in range(count - self._idle_readers.qsize()):
                self._idle_readers.put(self._new_reader())
        return self

    @contextmanager
    def _reader(self) -> Iterator[Reader | None]:
        if not self.config.own_model:
            yield None
            return
        try:
            reader = self._idle_readers.get_nowait()
        except queue.Empty:
            reader = self._new_reader()
        try:
            yield reader
        finally:
            self._idle_readers.put(reader)

    def warm_up(self) -> "FacePipeline":
        """Loads the models and runs them once on a blank photo: what a first call would pay for besides
        the loading (OpenCV's import and first resize, the detector's buffers) is paid now."""
        self.load()
        side = 2 * self.config.detect_max_side
        self.analyse(np.full((side * 3 // 4, side, 3), 128, dtype=np.uint8))
        return self

    def analyse(self, rgb: RGB, *, every_face: bool = False, embed: str = "all") -> Analysis:
        """The faces in an RGB image, largest first. `every_face`: the request counts or uses every
        face, so the thorough pass runs whatever the schedule. `embed`: "all" embeds every face,
        "largest" only the largest (the others are counted in `face_count`)."""
        if not self._loaded:
            self.load()
        with self._reader() as reader:
            return self._analyse(rgb, reader, every_face=every_face, embed=embed)

    def _analyse(self, rgb: RGB, reader: Reader | None, *, every_face: bool, embed: str) -> Analysis:
        height, width = rgb.shape[:2]
        small, scale = self._downscale(rgb)
        found = self._detect(small, reader, every_face=every_face)
        faces = []
        for detected in found:
            box = Box(
                left=max(0, int(round(detected.box.left / scale))),
                top=max(0, int(round(detected.box.top / scale))),
                right=min(width, int(round(detected.box.right / scale))),
                bottom=min(height, int(round(detected.box.bottom / scale))),
            )
            if box.area > 0:
                faces.append((box, detected))
        faces.sort(key=lambda pair: pair[0].area, reverse=True)
        wanted = faces if embed == "all" else faces[:1]
        embedded = [
            DetectedFace(
                box=box,
                confidence=detected.confidence,
                embedding=self._embed(rgb, small, box, detected.region, scale, reader),
                sharpness=sharpness(rgb, box),
            )
            for box, detected in wanted
        ]
        return Analysis(width=width, height=height, faces=embedded, face_count=len(faces))

    def _detect(self, small: RGB, reader: Reader | None, *, every_face: bool) -> list[Found]:
        if reader is None or reader.detector is None:
            return self._detect_deepface(small)
        if self.config.detect_schedule == "thorough":
            return self._detect_dlib(small, reader, upsample=1)
        cheap = self._detect_dlib(small, reader, upsample=0)
        if len(cheap) == 1 and not every_face:
            return cheap
        thorough = self._detect_dlib(small, reader, upsample=1)
        # One face, and the upsampled pass finds no other: the plain pass's frame is kept, so that a
        # photo of one person reads the same in every request. A group photo reads as "thorough"
        # reads it: its faces, framed and ranked by size alike.
        if len(cheap) == 1 and len(thorough) == 1 and same_face(cheap[0].box, thorough[0].box):
            return cheap
        return thorough

    def _detect_dlib(self, small: RGB, reader: Reader, *, upsample: int) -> list[Found]:
        # dlib's HOG detector called directly: deepface's wrapper always upsamples once, and fits
        # landmarks on the detection copy that the descriptor does not use. HOG takes the strongest
        # gradient of the three channels, so RGB serves as well as BGR, without a copy.
        rects, scores, _ = reader.detector.run(small, upsample)
        height, width = small.shape[:2]
        return [
            Found(
                box=Box(max(0, rect.left()), max(0, rect.top()), min(width, rect.right()), min(height, rect.bottom())),
                confidence=min(max(0.0, float(score)), 1.0),  # as deepface reports it
            )
            for rect, score in zip(rects, scores, strict=True)
        ]

    def _detect_deepface(self, small: RGB) -> list[Found]:
        # deepface's detectors take BGR, as OpenCV hands them.
        with self._deepface_lock:
            regions = self.detector.detect_faces(np.ascontiguousarray(small[:, :, ::-1]))
        return [
            Found(
                box=Box(region.x, region.y, region.x + region.w, region.y + region.h),
                confidence=float(region.confidence or 0.0),
                region=region,
            )
            for region in regions
        ]

    def _downscale(self, rgb: RGB) -> tuple[RGB, float]:
        height, width = rgb.shape[:2]
        longest = max(height, width)
        if longest <= self.config.detect_max_side:
            return rgb, 1.0
        scale = self.config.detect_max_side / longest
        import cv2

        small = cv2.resize(
            rgb, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA
        )
        return small.astype(np.uint8, copy=False), scale  # uint8 in, uint8 out: no copy

    def _embed(
        self, rgb: RGB, small: RGB, box: Box, region: Any, scale: float, reader: Reader | None
    ) -> npt.NDArray[np.float64]:
        if reader is not None and self.config.model_name == "SFace":
            return self._embed_sface(rgb, box, reader)
        if reader is not None:
            return self._embed_dlib(rgb, small, box, scale, reader)
        with self._deepface_lock:
            return self._embed_generic(rgb, region, scale)

    def _embed_dlib(self, rgb: RGB, small: RGB, box: Box, scale: float, reader: Reader) -> npt.NDArray[np.float64]:
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
        shape = reader.shape_predictor(source, rect)
        chip = self._dlib.get_face_chip(source, shape, size=CHIP_SIDE, padding=0.25)
        chips = [chip]
        if self.config.descriptor == "mirror":
            chips.append(np.ascontiguousarray(chip[:, ::-1]))
        vectors = reader.descriptor.compute_face_descriptor(chips, self.config.jitters)
        return np.mean(np.asarray(vectors, dtype=np.float64), axis=0)

    def _embed_sface(self, rgb: RGB, box: Box, reader: Reader) -> npt.NDArray[np.float64]:
        # dlib's five landmarks on the full-size photo, all five mapped onto their template positions
        # by a similarity transform (LMEDS: one misplaced landmark does not tilt the crop).
        import cv2

        points, template = self._sface_landmarks(rgb, box, reader)
        target = np.array(template, dtype=np.float32)
        transform, _ = cv2.estimateAffinePartial2D(points, target, method=cv2.LMEDS)
        if transform is None:
            transform, _ = cv2.estimateAffinePartial2D(points, target)
        crop = cv2.warpAffine(rgb, transform, (SFACE_SIDE, SFACE_SIDE), flags=cv2.INTER_LINEAR)
        # The network takes BGR, 0-255, as the wheel's own code feeds it.
        blob = cv2.dnn.blobFromImage(np.ascontiguousarray(crop[:, :, ::-1]), 1.0, (SFACE_SIDE, SFACE_SIDE))
        reader.descriptor.setInput(blob, "data")
        vector = np.asarray(reader.descriptor.forward(), dtype=np.float64).reshape(-1)
        return vector / np.linalg.norm(vector)

    def _sface_landmarks(
        self, rgb: RGB, box: Box, reader: Reader
    ) -> tuple[npt.NDArray[np.float32], tuple[tuple[float, float], ...]]:
        """Five landmarks of the face in `box` and the template positions they go to."""
        rect = self._dlib.rectangle(box.left, box.top, box.right, box.bottom)
        if self.config.sface_landmarks == "dlib68-non-commercial":
            shape = reader.landmarker(rgb, rect)
            xy = np.array([(shape.part(i).x, shape.part(i).y) for i in range(68)], dtype=np.float32)
            # Eye centres (36-41 is the eye on the image's left), nose tip, mouth corners.
            points = np.array([xy[36:42].mean(axis=0), xy[42:48].mean(axis=0), xy[30], xy[48], xy[54]])
            return points.astype(np.float32), ARCFACE_TEMPLATE
        if self.config.sface_landmarks == "yunet":
            found = yunet_landmarks(reader.landmarker, rgb, box)
            if found is not None:
                return found, ARCFACE_TEMPLATE
            # YuNet found no face around dlib's: dlib's five points, as the default aligns them.
            logger.warning("YuNet found no face around dlib's box %s; dlib's five points align it", box.as_dict())
        shape = reader.shape_predictor(rgb, rect)
        points = np.array([(shape.part(i).x, shape.part(i).y) for i in range(5)], dtype=np.float32)
        return points, SFACE_TEMPLATE

    def _embed_generic(self, rgb: RGB, region: Any, scale: float) -> npt.NDArray[np.float64]:
        from deepface.models.Detector import FacialAreaRegion
        from deepface.modules import detection, preprocessing

        def up(point: tuple[int, int] | None) -> tuple[int, int] | None:
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


def _shape_predictor_68() -> Path:
    import face_recognition_models

    return Path(face_recognition_models.__file__).parent / "models" / SHAPE_PREDICTOR_68_NON_COMMERCIAL


def yunet_landmarks(detector: Any, rgb: RGB, box: Box) -> npt.NDArray[np.float32] | None:
    """YuNet's five landmarks (in the photo's pixels) of the face it finds closest to the centre of
    dlib's `box`, looking at the box grown by YUNET_MARGIN on every side; None when it finds none there."""
    import cv2

    height, width = rgb.shape[:2]
    margin = YUNET_MARGIN * box.width
    left, top = max(0, int(box.left - margin)), max(0, int(box.top - margin))
    right, bottom = min(width, int(box.right + margin)), min(height, int(box.bottom + margin))
    crop: Any = rgb[top:bottom, left:right]
    if crop.size == 0:
        return None
    scale = min(1.0, YUNET_SIDE / max(crop.shape[:2]))
    if scale < 1.0:
        crop = cv2.resize(
            crop,
            (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))),
            interpolation=cv2.INTER_AREA,
        )
    bgr = np.ascontiguousarray(crop[:, :, ::-1])
    detector.setInputSize((bgr.shape[1], bgr.shape[0]))
    _, faces = detector.detect(bgr)
    if faces is None or len(faces) == 0:
        return None
    centre = np.array([(box.left + box.right) / 2 - left, (box.top + box.bottom) / 2 - top]) * scale
    middles = faces[:, 0:2] + faces[:, 2:4] / 2
    best = faces[int(np.argmin(np.linalg.norm(middles - centre, axis=1)))]
    # Right eye, left eye (the subject's: the first is on the image's left), nose tip, mouth corners.
    points = best[4:14].reshape(5, 2) / scale + np.array([left, top], dtype=np.float32)
    return points.astype(np.float32)


_pipelines: dict[PipelineConfig, FacePipeline] = {}
_pipelines_lock = threading.Lock()


def get_pipeline(config: PipelineConfig) -> FacePipeline:
    """The process-wide pipeline for `config`, created on first use (models load lazily)."""
    with _pipelines_lock:
        pipeline = _pipelines.get(config)
        if pipeline is None:
            pipeline = _pipelines[config] = FacePipeline(config)
    return pipeline
