"""The types the pipeline's callers share: an embedding, and an image that can be read."""

from typing import Any, Protocol, TypeAlias

import numpy as np
import numpy.typing as npt

from .images import DecodedImage

# A face descriptor: 128 floats for Dlib, as deepface's model gives it.
Embedding: TypeAlias = npt.NDArray[np.floating[Any]]


class Readable(Protocol):
    """An image the pipeline can read: an upload whose header passed (decoded when read), or pixels
    decoded already."""

    @property
    def label(self) -> str: ...

    @property
    def area(self) -> int:
        """Pixels of the photo as sent (width x height), known before it is decoded."""
        ...

    def decode(self) -> DecodedImage: ...
