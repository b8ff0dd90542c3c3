"""Image decoding: bytes in, an RGB array out, within a pixel budget. It knows nothing of Django.

What an image costs is known from its header before any pixel is decoded, so refusals are
cheap: `inspect_image` reads the header only (format, size, frames) and refuses what is not a
still photo of a sane shape and size. `decode_image` then decodes one image at a time, at reduced
size when the photo has more pixels than `ImageLimits.decode_max_pixels`: JPEG in draft mode (the
decoder itself skips the detail), other formats by a box filter straight after decoding. The
detector only ever sees a copy of at most 640 pixels a side, and a face worth embedding still
spans hundreds of pixels at that size, so nothing is lost but memory.

Memory for the worst accepted image (40 MP of 16-bit or palette PNG, converted before reduction):
about 240 MB while decoding, then at most `decode_max_pixels` x 4 bytes.
"""

import io
import math
import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

ALLOWED_FORMATS = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP", "BMP": "BMP"}
# Modes Pillow cannot reduce: converted first to the nearest mode it can.
REDUCIBLE_AS = {"1": "L", "P": "RGBA", "I;16": "I", "I;16B": "I", "I;16L": "I", "I;16N": "I"}

ImageFile.LOAD_TRUNCATED_IMAGES = False


class ImageRefused(ValueError):
    """An image that will not be decoded; the message names it and says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ImageLimits:
    max_pixels: int = 40_000_000  # refused above this, from the header
    max_aspect_ratio: float = 20.0  # longest side / shortest side
    decode_max_pixels: int = 16_000_000  # decoded at reduced size above this


@dataclass(frozen=True)
class ImageHeader:
    label: str
    format: str
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


@dataclass(frozen=True)
class DecodedImage:
    label: str  # how error messages name it, e.g. "image[2]"
    pixels: npt.NDArray[np.uint8]  # H x W x 3, uint8, RGB, EXIF orientation applied
    scale: float = 1.0  # original size / decoded size

    @property
    def area(self) -> int:
        height, width = self.pixels.shape[:2]
        return round(height * self.scale) * round(width * self.scale)

    def decode(self) -> "DecodedImage":
        """Itself: an image decoded already reads like an intake image decoded on demand."""
        return self


def _open(label: str, content: bytes) -> Image.Image:
    if not content:
        raise ImageRefused(f"{label}: the file is empty.")
    try:
        return Image.open(io.BytesIO(content), formats=None)
    except UnidentifiedImageError:
        raise ImageRefused(f"{label}: not an image in a supported format (JPEG, PNG, WebP or BMP).") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRefused(f"{label}: the image has too many pixels.") from None
    except Exception:
        raise ImageRefused(f"{label}: the file is corrupt and could not be read.") from None


def _check(label: str, image: Image.Image, limits: ImageLimits) -> str:
    kind = ALLOWED_FORMATS.get(image.format or "")
    if kind is None:
        raise ImageRefused(f"{label}: {image.format or 'this'} images are not accepted; send JPEG, PNG, WebP or BMP.")
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageRefused(f"{label}: the image has no pixels.")
    if width * height > limits.max_pixels:
        raise ImageRefused(
            f"{label}: {width}x{height} is {width * height / 1e6:.1f} megapixels; "
            f"at most {limits.max_pixels / 1e6:.0f} are accepted."
        )
    if max(width, height) / min(width, height) > limits.max_aspect_ratio:
        raise ImageRefused(
            f"{label}: {width}x{height} is too narrow for a photo; "
            f"the longer side may be at most {limits.max_aspect_ratio:g} times the shorter."
        )
    if getattr(image, "is_animated", False) or getattr(image, "n_frames", 1) > 1:
        raise ImageRefused(f"{label}: animated images are not accepted; send a single still photo.")
    return kind


def inspect_image(label: str, content: bytes, limits: ImageLimits = ImageLimits()) -> ImageHeader:
    """The image's format and size, read from its header alone; refuses anything doubtful."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        image = _open(label, content)
        kind = _check(label, image, limits)
    return ImageHeader(label=label, format=kind, width=image.size[0], height=image.size[1])


def reduction_factor(pixels: int, budget: int) -> int:
    """The smallest whole factor by which both sides shrink so that the image fits `budget` pixels."""
    return max(1, math.ceil(math.sqrt(pixels / budget))) if pixels > budget else 1


def decode_image(label: str, content: bytes, limits: ImageLimits = ImageLimits()) -> DecodedImage:
    """Checks and decodes one image's bytes into an RGB array, reduced to the decode budget."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        image = _open(label, content)
        kind = _check(label, image, limits)
        width, height = image.size
        if image.format == "JPEG" and width * height > limits.decode_max_pixels:
            # Draft mode decodes at 1/2, 1/4 or 1/8 scale; ask for the largest that fits.
            for shift in range(1, 4):
                if (width >> shift) * (height >> shift) <= limits.decode_max_pixels or shift == 3:
                    image.draft(image.mode, (math.ceil(width / 2**shift), math.ceil(height / 2**shift)))
                    break
        try:
            image.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageRefused(f"{label}: the image has too many pixels.") from None
        except OSError as error:
            if "truncated" in str(error).lower() or "premature" in str(error).lower():
                raise ImageRefused(f"{label}: truncated {kind} file; send the whole image.") from None
            raise ImageRefused(f"{label}: corrupt {kind} file ({error}).") from None
        except Exception:
            raise ImageRefused(f"{label}: corrupt {kind} file.") from None
    sixteen_bit = image.mode.startswith("I;16")
    factor = reduction_factor(image.size[0] * image.size[1], limits.decode_max_pixels)
    if factor > 1:
        if image.mode in REDUCIBLE_AS:
            if image.mode == "P" and "transparency" not in image.info:
                image = image.convert("RGB")
            else:
                image = image.convert(REDUCIBLE_AS[image.mode])
        image = image.reduce(factor)
    pixels = to_rgb_array(image, sixteen_bit=sixteen_bit)
    # Orientation may have swapped the sides: compare the longer sides.
    scale = max(width, height) / max(pixels.shape[:2])
    return DecodedImage(label=label, pixels=pixels, scale=scale)


def to_rgb_array(image: Image.Image, *, sixteen_bit: bool = False) -> npt.NDArray[np.uint8]:
    """Applies EXIF orientation and converts any mode (CMYK, 16-bit, palette, alpha) to 8-bit RGB."""
    ImageOps.exif_transpose(image, in_place=True)
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        array = np.asarray(image).astype(np.float32)
        peak = 65535.0 if sixteen_bit or mode.startswith("I;16") or array.max() > 255 else 255.0
        grey = np.clip(array / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.stack([grey] * 3, axis=-1))
    if mode == "F":
        grey = np.clip(np.asarray(image, dtype=np.float32), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.stack([grey] * 3, axis=-1))
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if mode in ("RGBA", "LA", "PA") or image.mode in ("RGBA", "LA"):
        # Transparent pixels become white rather than whatever colour they happened to store.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(image)
