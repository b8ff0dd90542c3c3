"""Image intake: every refusal is a 400 that names the image, and nothing reaches the pipeline."""

import base64
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from facenition.errors import BadRequest
from matching.pipeline import decode_image
from tests.conftest import make_image_bytes, upload

pytestmark = pytest.mark.django_db


def post_match(authed, images, references=None, fmt="multipart"):
    references = references if references is not None else [make_image_bytes("PNG")]
    if fmt == "json":
        references = [base64.b64encode(r).decode() for r in references]
    if fmt == "multipart":
        data = {
            "image": [upload(f"i{i}", c) for i, c in enumerate(images)],
            "reference": [upload(f"r{i}", c) for i, c in enumerate(references)],
        }
        return authed.post("/match", data, format="multipart")
    return authed.post("/match", {"image": images, "reference": references}, format="json")


def error_of(response):
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["ok"] is False
    return body["error"]


@pytest.fixture(autouse=True)
def pipeline_must_not_run(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a refused image reached the face pipeline")

    monkeypatch.setattr("matching.pipeline.core.FacePipeline.analyse", refuse)


def truncated_jpeg():
    photo = make_image_bytes("JPEG", size=(400, 300))
    return photo[: len(photo) // 2]


def animated(fmt):
    frames = [Image.new("RGB", (32, 32), c) for c in ((255, 0, 0), (0, 255, 0))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format=fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buffer.getvalue()


def test_it_refuses_a_missing_image(authed):
    response = authed.post("/match", {"reference": upload("r", make_image_bytes("PNG"))}, format="multipart")
    assert error_of(response).startswith("image:")


def test_it_refuses_more_than_ten_images(authed):
    assert "at most 10" in error_of(post_match(authed, [make_image_bytes("PNG")] * 11))


def test_it_refuses_a_file_over_ten_megabytes(authed):
    big = make_image_bytes("PNG") + b"\0" * (10 * 1024 * 1024)
    assert error_of(post_match(authed, [make_image_bytes("PNG"), big])).startswith("image[1]: the file is 10 MB")


def test_it_refuses_over_forty_megapixels_before_decoding(authed, monkeypatch):
    huge = make_image_bytes("PNG", size=(8000, 5001), mode="L", color=0)
    loaded = []
    real_load = Image.Image.load
    monkeypatch.setattr(
        Image.Image, "load", lambda self: loaded.append(self.size) if self.size == (8000, 5001) else real_load(self)
    )
    assert "40.0 megapixels" in error_of(post_match(authed, [huge]))
    assert loaded == []


@pytest.mark.parametrize("fmt", ["GIF", "TIFF", "ICO"])
def test_it_refuses_other_formats_by_content(authed, fmt):
    content = make_image_bytes(fmt, size=(32, 32))
    error = error_of(post_match(authed, [content]))
    assert error.startswith("image[0]:") and "JPEG, PNG, WebP or BMP" in error


def test_it_detects_format_by_content_not_extension(authed):
    response = authed.post(
        "/match",
        {"image": upload("photo.jpg", make_image_bytes("GIF")), "reference": upload("r.png", make_image_bytes("PNG"))},
        format="multipart",
    )
    assert "GIF images are not accepted" in error_of(response)


@pytest.mark.parametrize("fmt", ["WEBP", "PNG"])
def test_it_refuses_animated_images(authed, fmt):
    assert "animated" in error_of(post_match(authed, [animated(fmt)]))


def test_it_refuses_a_truncated_jpeg(authed):
    assert error_of(post_match(authed, [truncated_jpeg()])) == "image[0]: truncated JPEG file; send the whole image."


def test_it_refuses_random_bytes(authed):
    assert "not an image" in error_of(post_match(authed, [b"\x89PNG but not really" * 10]))


def test_it_refuses_an_empty_file(authed):
    assert "empty" in error_of(post_match(authed, [b""]))


def test_it_names_the_reference_field_too(authed):
    error = error_of(post_match(authed, [make_image_bytes("PNG")], [make_image_bytes("PNG"), make_image_bytes("GIF")]))
    assert error.startswith("reference[1]: GIF images are not accepted")


@pytest.mark.parametrize(
    "value",
    [
        "https://example.com/face.jpg",
        "http://127.0.0.1/x.png",
        "/etc/passwd",
        "../shared/faces/a.jpg",
        "~/face.jpg",
        "file:///etc/hosts",
    ],
)
def test_it_refuses_strings_that_look_like_locations(authed, value):
    assert "URL or a file path" in error_of(post_match(authed, [value], fmt="json"))


def test_it_refuses_invalid_base64(authed):
    assert error_of(post_match(authed, ["not base64 at all!!"], fmt="json")) == "image[0]: not valid base64."


def test_it_refuses_non_string_json_values(authed):
    assert "expected a base64-encoded image string" in error_of(post_match(authed, [12345], fmt="json"))


def test_it_accepts_base64_data_urls(authed, monkeypatch):
    seen = []
    monkeypatch.setattr(
        "matching.api.faces_match", lambda **kw: seen.append(kw) or (_ for _ in ()).throw(BadRequest("stop"))
    )
    png = base64.b64encode(make_image_bytes("PNG", size=(20, 10))).decode()
    response = authed.post("/match", {"image": f"data:image/png;base64,{png}", "reference": [png]}, format="json")
    assert error_of(response) == "stop"
    assert seen[0]["images"][0].decode().pixels.shape == (10, 20, 3)
    assert len(seen[0]["references"]) == 1


def black_png(width, height):
    """A valid greyscale PNG of black rows, compressed a megabyte at a time: PIL writes a 39-million-row
    image a row at a time, seconds for what zlib does in a fraction of one."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\0" * (width + 1)  # filter type 0, then the row's pixels
    rows_per_block = max(1, (1 << 20) // len(row))
    compressor = zlib.compressobj(9)
    blocks, rest = divmod(height, rows_per_block)
    data = [compressor.compress(row * rows_per_block) for _ in range(blocks)]
    data += [compressor.compress(row * rest), compressor.flush()]
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(data)) + chunk(b"IEND", b"")


def test_it_refuses_a_strip_one_pixel_wide_from_its_header(authed):
    strip = black_png(1, 39_000_000)
    assert "too narrow for a photo" in error_of(post_match(authed, [strip]))


def test_it_refuses_a_request_over_its_pixel_budget_before_decoding(authed, monkeypatch):
    blank = make_image_bytes("PNG", size=(8000, 5000), mode="L", color=0)
    decoded = []
    monkeypatch.setattr(Image.Image, "load", lambda self: decoded.append(self.size))
    error = error_of(post_match(authed, [blank] * 10, [blank] * 10))
    assert (
        error == "image: the images of this request have 400 megapixels in all; at most 240 are accepted per request."
    )
    assert decoded == []


def test_it_decodes_one_image_at_a_time_each_just_before_it_is_read(authed, monkeypatch, settings):
    from matching import intake as images
    from matching.pipeline import Analysis, Box, DetectedFace

    events = []
    real_decode = images.decode_image

    def decode(*args, **kwargs):
        events.append("decode")
        return real_decode(*args, **kwargs)

    def analyse(pipeline, rgb, **how):
        events.append("read")
        face = DetectedFace(box=Box(0, 0, 64, 48), confidence=1.0, embedding=np.ones(128))  # wide enough to judge
        return Analysis(width=rgb.shape[1], height=rgb.shape[0], faces=[face])

    settings.FACENITION_PHOTO_THREADS = 1
    monkeypatch.setattr(images, "decode_image", decode)
    monkeypatch.setattr("matching.pipeline.core.FacePipeline.analyse", analyse)
    photo = make_image_bytes("JPEG", size=(64, 48))

    response = post_match(authed, [photo] * 3, [photo] * 2)

    assert response.status_code == 200, response.content
    assert events == ["decode", "read"] * 5


def test_side_by_side_a_worker_holds_no_more_decoded_photos_than_its_photo_threads(
    authed, monkeypatch, settings, tmp_path
):
    import threading
    import time

    from matching import intake as images
    from matching import reading as services
    from matching.cores import CoreSlots
    from matching.pipeline import Analysis, Box, DetectedFace

    live, most, threads, lock = [0], [0], set(), threading.Lock()
    real_decode = images.decode_image

    def decode(*args, **kwargs):
        with lock:
            live[0] += 1
            most[0] = max(most[0], live[0])
        return real_decode(*args, **kwargs)

    def analyse(pipeline, rgb, **how):
        time.sleep(0.05)  # long enough for the photos to overlap if they can
        with lock:
            threads.add(threading.get_ident())
            live[0] -= 1
        face = DetectedFace(box=Box(0, 0, 64, 48), confidence=1.0, embedding=np.ones(128))
        return Analysis(width=rgb.shape[1], height=rgb.shape[0], faces=[face])

    settings.FACENITION_PHOTO_THREADS = 2
    monkeypatch.setattr(services, "_core_slots", CoreSlots(tmp_path, count=4))  # more cores than the worker may use
    monkeypatch.setattr(images, "decode_image", decode)
    monkeypatch.setattr("matching.pipeline.core.FacePipeline.analyse", analyse)
    photo = make_image_bytes("JPEG", size=(64, 48))

    response = post_match(authed, [photo] * 5, [photo] * 5)

    assert response.status_code == 200, response.content
    assert most[0] == 2 and len(threads) == 2


def test_it_decodes_a_large_jpeg_at_reduced_size_in_the_decoder():
    content = make_image_bytes("JPEG", size=(8000, 5000))
    decoded = decode_image("image[0]", content)
    assert decoded.pixels.shape == (2500, 4000, 3) and decoded.scale == 2.0


def test_it_decodes_a_large_png_within_the_decode_budget():
    content = make_image_bytes("PNG", size=(8000, 5000), mode="RGBA", color=(0, 0, 0, 0))
    decoded = decode_image("image[0]", content)
    assert decoded.pixels.shape[0] * decoded.pixels.shape[1] <= 16_000_000
    assert decoded.pixels.min() == 255


def test_decode_applies_exif_orientation():
    image = Image.new("RGB", (40, 20), (255, 0, 0))
    exif = image.getexif()
    exif[0x0112] = 6  # rotated 90° clockwise
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)
    assert decode_image("image[0]", buffer.getvalue()).pixels.shape == (40, 20, 3)


def test_decode_converts_cmyk_to_rgb():
    content = make_image_bytes("JPEG", mode="CMYK", color=(0, 255, 255, 0))  # pure red in CMYK
    pixel = decode_image("image[0]", content).pixels[5, 5]
    assert pixel[0] > 200 and pixel[1] < 60 and pixel[2] < 60


def test_decode_scales_sixteen_bit_grey_to_eight_bits():
    image = Image.fromarray(np.full((8, 8), 65535, dtype=np.uint16))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    pixels = decode_image("image[0]", buffer.getvalue()).pixels
    assert pixels.dtype == np.uint8 and pixels.shape == (8, 8, 3) and pixels.min() == 255


def test_decode_composites_transparency_on_white():
    content = make_image_bytes("PNG", mode="RGBA", color=(0, 0, 0, 0))
    assert decode_image("image[0]", content).pixels.min() == 255


def test_decode_converts_palette_images():
    image = Image.new("RGB", (8, 8), (10, 200, 30)).convert("P", palette=Image.Palette.ADAPTIVE)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    pixels = decode_image("image[0]", buffer.getvalue()).pixels
    assert tuple(pixels[0, 0]) == (10, 200, 30)


def test_it_refuses_a_flood_of_files_in_the_envelope(authed):
    response = post_match(authed, [make_image_bytes("PNG")] * 12, [make_image_bytes("PNG")] * 12)
    assert "at most 10 images" in error_of(response)


def test_side_by_side_the_first_failing_photo_in_the_order_sent_is_named_and_no_more_are_read(
    authed, monkeypatch, settings, tmp_path
):
    import threading
    import time

    from matching import reading as services
    from matching.cores import CoreSlots
    from matching.pipeline import Analysis

    read, lock = [], threading.Lock()

    def analyse(pipeline, rgb, **how):
        with lock:
            read.append(threading.get_ident())
            first = len(read) == 1
        time.sleep(0.2 if first else 0.01)  # the first photo finishes last
        return Analysis(width=rgb.shape[1], height=rgb.shape[0], faces=[])  # no face in any

    settings.FACENITION_PHOTO_THREADS = 2
    monkeypatch.setattr(services, "_core_slots", CoreSlots(tmp_path, count=2))
    monkeypatch.setattr("matching.pipeline.core.FacePipeline.analyse", analyse)
    photo = make_image_bytes("JPEG", size=(64, 48))

    response = post_match(authed, [photo] * 6, [photo])

    assert response.status_code == 400
    assert response.json()["error"].startswith("image[0]: no face found")
    assert len(set(read)) == 2  # read side by side,
    assert len(read) == 2  # and once one had failed, no other photo was started
