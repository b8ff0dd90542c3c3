"""Face photos never reach the disk, however large the request."""

import io

import numpy as np
import pytest
from PIL import Image

from tests.conftest import upload

# The pipeline runs on what it reads: it needs the face models.
pytestmark = [pytest.mark.django_db, pytest.mark.faces]

FOUR_MB = 4 * 1024 * 1024


def photo_of_about_four_megabytes(seed):
    """A PNG of noise, which does not compress: a little over 4 MB."""
    pixels = np.random.default_rng(seed).integers(0, 256, (1200, 1200, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=0)
    return buffer.getvalue()


def test_three_four_megabyte_photos_are_read_without_writing_a_file(authed, settings, tmp_path):
    # Django writes an upload that does not fit in memory to a temporary file in FILE_UPLOAD_TEMP_DIR.
    # Point it at a folder that does not exist: any such file would fail the request.
    spill = tmp_path / "no-upload-may-land-here"
    settings.FILE_UPLOAD_TEMP_DIR = str(spill)
    photos = [photo_of_about_four_megabytes(seed) for seed in range(3)]
    assert all(len(photo) > FOUR_MB for photo in photos)

    response = authed.post(
        "/match",
        {"image": [upload(f"p{i}.png", p) for i, p in enumerate(photos[:2])], "reference": upload("r.png", photos[2])},
        format="multipart",
    )

    # The photos were read (noise shows no face), and nothing was written on the way.
    assert response.status_code == 400, response.content[:300]
    assert "no face found" in response.json()["error"]
    assert not spill.exists()
