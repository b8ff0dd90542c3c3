"""The image of web, worker and beat, built here from Debian's packages (`make container`; no registry
is reachable) and started as a deployment would start it, on the host's network against the test
PostgreSQL and Redis: it migrates, serves /ready and answers a /match of real photos, as a user
other than root."""

import json
import shutil
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from tests.live import PER_ADDRESS_LIMITS_LIFTED, database_url
from tests.test_server import free_port, multipart

REPO = Path(__file__).resolve().parent.parent
IMAGE = "facenition-server"

pytestmark = [pytest.mark.faces, pytest.mark.subprocess, pytest.mark.django_db(transaction=True)]


def docker_answers():
    return shutil.which("docker") and subprocess.run(["docker", "info"], capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def image():
    if not docker_answers():
        pytest.skip("Docker's engine is not running (make container-tools installs and starts it)")
    built = subprocess.run(["make", "container"], cwd=REPO, capture_output=True, text=True, timeout=3000)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return IMAGE


def post(url, body=b"", content_type="application/json", **headers):
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": content_type, **headers})
    with urllib.request.urlopen(request, timeout=120) as answer:
        return json.load(answer)


def test_the_image_serves_ready_and_matches_real_photos_as_a_user_other_than_root(image, photo):
    url = database_url(settings.DATABASES["default"])
    if url is None or not settings.REDIS_URL:
        pytest.skip("the container runs against the PostgreSQL test database and Redis; make test sets both")
    port = free_port()
    name = f"facenition-test-{uuid.uuid4().hex[:8]}"
    environment = {
        "DATABASE_URL": url,
        "REDIS_URL": settings.REDIS_URL,
        "SECRET_KEY": settings.SECRET_KEY,
        "FACENITION_TOKEN_KEY": settings.FACENITION_TOKEN_KEY,
        "BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
        **PER_ADDRESS_LIMITS_LIFTED,
    }
    command = ["docker", "run", "--detach", "--rm", "--name", name, "--network", "host"]
    command += [argument for key, value in environment.items() for argument in ("--env", f"{key}={value}")]
    started = subprocess.run([*command, image, "web"], capture_output=True, text=True, timeout=60)
    assert started.returncode == 0, started.stderr
    try:
        base = f"http://127.0.0.1:{port}"
        deadline, ready = time.monotonic() + 240, None
        while time.monotonic() < deadline and ready is None:
            try:
                with urllib.request.urlopen(f"{base}/ready", timeout=5) as answer:
                    ready = json.load(answer)
            except OSError:
                time.sleep(1)
        logs = subprocess.run(["docker", "logs", name], capture_output=True, text=True).stdout
        assert ready and ready["ok"], logs[-3000:]
        assert ready["checks"]["models"] == "loaded"

        token = post(f"{base}/generateToken", b'{"name": "container"}')["token"]
        body, content_type = multipart(
            [("image", photo("deepface-a_img1.jpg").read()), ("reference", photo("deepface-a_img7.jpg").read())]
        )
        answer = post(f"{base}/match", body, content_type, **{"X-Auth-Token": token})
        assert answer["match"] is True, answer

        user = subprocess.run(["docker", "exec", name, "id", "-u"], capture_output=True, text=True).stdout.strip()
        assert user and user != "0"
    finally:
        subprocess.run(["docker", "rm", "--force", name], capture_output=True)
