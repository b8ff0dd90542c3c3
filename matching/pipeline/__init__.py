"""The face pipeline: decode → detect → align → embed → compare. It knows nothing of Django.

Uploads become RGB uint8 arrays in `images.py` (`decode_image`, within a pixel budget);
`FacePipeline.analyse` returns an `Analysis` holding a `DetectedFace` per detected face (or the largest
only, when only it counts), largest first. Detection runs on a copy whose longest side is at most
`detect_max_side` pixels, by the detection schedule (dlib's plain pass first, the upsampled pass
when needed); landmarks, alignment and the embedding use the decoded photo. Each thread reading a
photo uses dlib models of its own (`Reader`).

Models load once per process, on first use or on an explicit `load()`. Dlib and SFace
(`OWN_MODELS`) run here on dlib's detector and landmarks; any other model or detector is built
through deepface.
"""

from .core import (
    ALIGN_ON,
    DESCRIPTORS,
    OWN_MODELS,
    SCHEDULES,
    SFACE_LANDMARKS,
    Analysis,
    Box,
    DetectedFace,
    FacePipeline,
    PipelineConfig,
    cosine_distance,
    get_pipeline,
)
from .images import (
    DecodedImage,
    ImageHeader,
    ImageLimits,
    ImageRefused,
    decode_image,
    inspect_image,
    to_rgb_array,
)
from .types import Embedding, Readable
from .weights import DESCRIPTOR, SFACE, SHAPE_PREDICTOR, WeightsMissing, missing_weights, place_weights, weights_dir

__all__ = [
    "ALIGN_ON",
    "DESCRIPTORS",
    "OWN_MODELS",
    "SCHEDULES",
    "SFACE_LANDMARKS",
    "Analysis",
    "DESCRIPTOR",
    "SFACE",
    "SHAPE_PREDICTOR",
    "Box",
    "DecodedImage",
    "Embedding",
    "DetectedFace",
    "FacePipeline",
    "ImageHeader",
    "ImageLimits",
    "ImageRefused",
    "PipelineConfig",
    "Readable",
    "WeightsMissing",
    "cosine_distance",
    "get_pipeline",
    "decode_image",
    "inspect_image",
    "missing_weights",
    "place_weights",
    "to_rgb_array",
    "weights_dir",
]
