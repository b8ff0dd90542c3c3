"""Image intake: the one place that turns uploaded files or base64 strings into RGB arrays.

Everything a caller can get wrong is refused here, before any pixel is decoded, with a 400 that
names the image (`image[2]: truncated JPEG`). Strings are never handed to deepface, so a URL or a
server path can never make the server fetch or read anything.
"""

import base64
import binascii
import io
import re
import warnings
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from facenition.errors import BadRequest, human_size

ALLOWED_FORMATS = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP", "BMP": "BMP"}
DATA_URL = re.compile(r"^data:(?P<mime>[\w/+.-]*)(?:;[\w=.-]+)*;base64,", re.IGNORECASE)
URL_SCHEME = re.compile(r"^(?:[a-z][a-z0-9+.-]*:/|www\.)", re.IGNORECASE)
PATH_START = re.compile(r"^(?:/|\.{1,2}[/\\]|~|[a-z]:[/\\])", re.IGNORECASE)
# JPEG in base64 starts with "/9j/", so a leading slash alone does not make a path; but no photo
# a face could be found in fits in this many characters.
SHORTEST_PLAUSIBLE_IMAGE = 512
BASE64_ALPHABET = re.compile(r"^[A-Za-z0-9+/_-]*={0,2}$")

ImageFile.LOAD_TRUNCATED_IMAGES = False


@dataclass(frozen=True)
class IntakeImage:
    label: str  # how error messages name it, e.g. "image[2]"
    pixels: np.ndarray  # H x W x 3, uint8, RGB, EXIF orientation applied


def _limits():
    return settings.FACENITION_MAX_IMAGES, settings.FACENITION_MAX_IMAGE_BYTES, settings.FACENITION_MAX_IMAGE_PIXELS


def collect_image_payloads(data, files, field, *, required=True):
    """The raw bytes of every image sent under `field`, as (label, bytes), still undecoded."""
    max_images, max_bytes, _ = _limits()
    uploads = files.getlist(field) if hasattr(files, "getlist") else []
    values = []
    if hasattr(data, "getlist"):
        values = [v for v in data.getlist(field) if not isinstance(v, UploadedFile)]
    elif isinstance(data, dict) and field in data:
        raw = data[field]
        values = raw if isinstance(raw, list) else [raw]

    total = len(uploads) + len(values)
    if total == 0:
        if required:
            raise BadRequest(f"{field}: send at least one image, as a multipart file or a base64 string.")
        return []
    if total > max_images:
        raise BadRequest(f"{field}: {total} images sent; at most {max_images} are accepted per request.")

    payloads = []
    for index, upload in enumerate(uploads):
        label = f"{field}[{index}]"
        if upload.size > max_bytes:
            raise BadRequest(
                f"{label}: the file is {human_size(upload.size)}; at most {human_size(max_bytes)} is accepted."
            )
        payloads.append((label, upload.read()))
    for offset, value in enumerate(values):
        label = f"{field}[{len(uploads) + offset}]"
        payloads.append((label, _decode_base64(label, value, max_bytes)))
    return payloads


def _decode_base64(label, value, max_bytes):
    if not isinstance(value, str):
        raise BadRequest(f"{label}: expected a base64-encoded image string, got {type(value).__name__}.")
    text = value.strip()
    match = DATA_URL.match(text)
    if match:
        text = text[match.end() :]
    elif URL_SCHEME.match(text) or (
        PATH_START.match(text) and (len(text) < SHORTEST_PLAUSIBLE_IMAGE or not BASE64_ALPHABET.match(text))
    ):
        raise BadRequest(f"{label}: looks like a URL or a file path; send the image itself, base64-encoded.")
    text = re.sub(r"\s+", "", text)
    if not text:
        raise BadRequest(f"{label}: the image string is empty.")
    if len(text) * 3 // 4 > max_bytes:
        raise BadRequest(f"{label}: the image is larger than {human_size(max_bytes)}.")
    if not BASE64_ALPHABET.match(text):
        raise BadRequest(f"{label}: not valid base64.")
    try:
        if "-" in text or "_" in text:
            return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"{label}: not valid base64.") from None


def decode_image(label, content):
    """Checks and decodes one image's bytes into an RGB array; refuses anything doubtful."""
    _, _, max_pixels = _limits()
    if not content:
        raise BadRequest(f"{label}: the file is empty.")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(content), formats=None)
        except UnidentifiedImageError:
            raise BadRequest(f"{label}: not an image in a supported format (JPEG, PNG, WebP or BMP).") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise BadRequest(f"{label}: the image has too many pixels.") from None
        except Exception:
            raise BadRequest(f"{label}: the file is corrupt and could not be read.") from None

        kind = ALLOWED_FORMATS.get(image.format or "")
        if kind is None:
            raise BadRequest(f"{label}: {image.format or 'this'} images are not accepted; send JPEG, PNG, WebP or BMP.")
        width, height = image.size
        if width * height > max_pixels:
            raise BadRequest(
                f"{label}: {width}x{height} is {width * height / 1e6:.1f} megapixels; "
                f"at most {max_pixels / 1e6:.0f} are accepted."
            )
        if width < 1 or height < 1:
            raise BadRequest(f"{label}: the image has no pixels.")
        if getattr(image, "is_animated", False) or getattr(image, "n_frames", 1) > 1:
            raise BadRequest(f"{label}: animated images are not accepted; send a single still photo.")
        try:
            image.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise BadRequest(f"{label}: the image has too many pixels.") from None
        except OSError as error:
            if "truncated" in str(error).lower() or "premature" in str(error).lower():
                raise BadRequest(f"{label}: truncated {kind} file; send the whole image.") from None
            raise BadRequest(f"{label}: corrupt {kind} file ({error}).") from None
        except Exception:
            raise BadRequest(f"{label}: corrupt {kind} file.") from None
    return IntakeImage(label=label, pixels=to_rgb_array(image))


def to_rgb_array(image):
    """Applies EXIF orientation and converts any mode (CMYK, 16-bit, palette, alpha) to 8-bit RGB."""
    ImageOps.exif_transpose(image, in_place=True)
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if mode.startswith("I;16") or array.max() > 255 else 255.0
        grey = np.clip(array / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.stack([grey] * 3, axis=-1))
    if mode == "F":
        grey = np.clip(np.asarray(image, dtype=np.float64), 0, 255).astype(np.uint8)
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


def images_from_request(request, field="image", *, required=True):
    """Every image sent under `field`, decoded. Raises BadRequest naming the first bad one."""
    payloads = collect_image_payloads(request.data, request.FILES, field, required=required)
    return [decode_image(label, content) for label, content in payloads]
