"""Image intake: the one place that turns uploaded files or base64 strings into images to read.

Everything a caller can get wrong is refused here, before any pixel is decoded, with a 400 that
names the image (`image[2]: truncated JPEG`): every image's header is read first, and the request
as a whole may not ask for more than FACENITION_MAX_REQUEST_PIXELS. Pixels are decoded later, one
image at a time, by the face pipeline's `decode_image`. Strings are never handed to deepface, so a
URL or a server path can never make the server fetch or read anything.
"""

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from rest_framework.request import Request

from facenition.errors import BadRequest, human_size

from .reading import DecodedImage, ImageLimits, ImageRefused, decode_image, inspect_image

DATA_URL = re.compile(r"^data:(?P<mime>[\w/+.-]*)(?:;[\w=.-]+)*;base64,", re.IGNORECASE)
URL_SCHEME = re.compile(r"^(?:[a-z][a-z0-9+.-]*:/|www\.)", re.IGNORECASE)
PATH_START = re.compile(r"^(?:/|\.{1,2}[/\\]|~|[a-z]:[/\\])", re.IGNORECASE)
# JPEG in base64 starts with "/9j/", so a leading slash alone does not make a path; but no photo
# a face could be found in fits in this many characters.
SHORTEST_PLAUSIBLE_IMAGE = 512
BASE64_ALPHABET = re.compile(r"^[A-Za-z0-9+/_-]*={0,2}$")
WHITESPACE = re.compile(r"\s+")
# The request attribute that adds up the pixels of every image field it carries.
PIXELS_CLAIMED = "_facenition_image_pixels"


def image_limits() -> ImageLimits:
    return ImageLimits(
        max_pixels=settings.FACENITION_MAX_IMAGE_PIXELS,
        max_aspect_ratio=settings.FACENITION_MAX_ASPECT_RATIO,
        decode_max_pixels=settings.FACENITION_DECODE_MAX_PIXELS,
    )


def decode_or_refuse(label: str, content: bytes) -> DecodedImage:
    """`decode_image` with the server's limits; a refusal is a 400 naming the image."""
    try:
        return decode_image(label, content, image_limits())
    except ImageRefused as refused:
        raise BadRequest(refused.message) from None


@dataclass(frozen=True)
class IntakeImage:
    """An upload whose header passed every check; its pixels are decoded each time they are read,
    so that a request holds one decoded image at a time."""

    label: str  # how error messages name it, e.g. "image[2]"
    content: bytes
    width: int
    height: int

    @property
    def area(self) -> int:
        return self.width * self.height

    def decode(self) -> DecodedImage:
        return decode_or_refuse(self.label, self.content)


def collect_image_payloads(data: Any, files: Any, field: str, *, required: bool = True) -> list[tuple[str, bytes]]:
    """The raw bytes of every image sent under `field`, as (label, bytes), still undecoded."""
    max_images, max_bytes = settings.FACENITION_MAX_IMAGES, settings.FACENITION_MAX_IMAGE_BYTES
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


def _decode_base64(label: str, value: object, max_bytes: int) -> bytes:
    if not isinstance(value, str):
        raise BadRequest(f"{label}: expected a base64-encoded image string, got {type(value).__name__}.")
    # Tools wrap base64 at 76 columns (`base64 photo.jpg`): whitespace goes before any other check.
    text = WHITESPACE.sub("", value)
    match = DATA_URL.match(text)
    if match:
        text = text[match.end() :]
    elif URL_SCHEME.match(text) or (
        PATH_START.match(text) and (len(text) < SHORTEST_PLAUSIBLE_IMAGE or not BASE64_ALPHABET.match(text))
    ):
        raise BadRequest(f"{label}: looks like a URL or a file path; send the image itself, base64-encoded.")
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


def images_from_request(request: Request, field: str = "image", *, required: bool = True) -> list[IntakeImage]:
    """Every image sent under `field`, its header checked and its pixels not yet decoded. Raises
    BadRequest naming the first bad one, or when the request's images (every field's) together
    have more than FACENITION_MAX_REQUEST_PIXELS."""
    payloads = collect_image_payloads(request.data, request.FILES, field, required=required)
    limits = image_limits()
    images = []
    for label, content in payloads:
        try:
            header = inspect_image(label, content, limits)
        except ImageRefused as refused:
            raise BadRequest(refused.message) from None
        images.append(IntakeImage(label=label, content=content, width=header.width, height=header.height))
    claimed = getattr(request, PIXELS_CLAIMED, 0) + sum(image.width * image.height for image in images)
    budget = settings.FACENITION_MAX_REQUEST_PIXELS
    if claimed > budget:
        raise BadRequest(
            f"{field}: the images of this request have {claimed / 1e6:.0f} megapixels in all; "
            f"at most {budget / 1e6:.0f} are accepted per request."
        )
    setattr(request, PIXELS_CLAIMED, claimed)  # the request's other image fields count against the same budget
    return images
