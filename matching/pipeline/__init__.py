"""The face pipeline: decode → detect → align → embed → compare. It knows nothing of Django.

Input is an RGB uint8 array, decoded from the upload by `facenition.api.images`; output is an `Analysis` holding one
`Face` per detected face, largest first. Detection runs on a copy whose longest side is at most
`detect_max_side` pixels; landmarks, alignment and the embedding use the full-size original.

Models load once per process, on first use or on an explicit `load()`, through deepface, so an
operator can name another deepface model or detector in the settings.
"""

from .core import Analysis, Box, Face, FacePipeline, PipelineConfig, cosine_distance, get_pipeline
from .weights import DESCRIPTOR, SHAPE_PREDICTOR, WeightsMissing, missing_weights, place_weights, weights_dir

__all__ = [
    "Analysis",
    "DESCRIPTOR",
    "SHAPE_PREDICTOR",
    "Box",
    "Face",
    "FacePipeline",
    "PipelineConfig",
    "WeightsMissing",
    "cosine_distance",
    "get_pipeline",
    "missing_weights",
    "place_weights",
    "weights_dir",
]
