"""The face pipeline: decode → detect → align → embed → compare. It knows nothing of Django.

Uploads become RGB uint8 arrays in `images.py` (`decode_image`, one at a time, within a pixel
budget); `FacePipeline.analyse` returns an `Analysis` holding one `Face` per detected face,
largest first. Detection runs on a copy whose longest side is at most `detect_max_side` pixels;
landmarks, alignment and the embedding use the decoded photo.

Models load once per process, on first use or on an explicit `load()`, through deepface, so an
operator can name another deepface model or detector in the settings.
"""

from .core import (
    ALIGN_ON,
    DESCRIPTORS,
    Analysis,
    Box,
    Face,
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
from .weights import DESCRIPTOR, SHAPE_PREDICTOR, WeightsMissing, missing_weights, place_weights, weights_dir

__all__ = [
    "ALIGN_ON",
    "DESCRIPTORS",
    "Analysis",
    "DESCRIPTOR",
    "SHAPE_PREDICTOR",
    "Box",
    "DecodedImage",
    "Face",
    "FacePipeline",
    "ImageHeader",
    "ImageLimits",
    "ImageRefused",
    "PipelineConfig",
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
