"""What a server process imports and sets up before its first request.

Each check runs in a fresh interpreter: this test process may have imported anything already.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY_LIBRARIES = [
    "tensorflow",
    "tf_keras",
    "keras",
    "torch",
    "onnxruntime",
    "deepface",
    "dlib",
    "cv2",
    "galois",
    "numba",
]


THREAD_POOL_VARIABLES = [
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "OPENCV_FOR_THREADS_NUM",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
]


def run_python(code, **environment):
    env = {name: value for name, value in os.environ.items() if name not in THREAD_POOL_VARIABLES}
    env.update(DJANGO_SETTINGS_MODULE="facenition.settings", SECRET_KEY="s" * 50, **environment)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def imported_heavy_libraries(code, **environment):
    return run_python(
        code + f"\nimport json, sys\nprint(json.dumps([m for m in {HEAVY_LIBRARIES!r} if m in sys.modules]))",
        **environment,
    )


@pytest.mark.subprocess
def test_web_modules_import_no_heavy_library_until_a_face_is_read():
    code = "from facenition.wsgi import application\nfrom django.urls import get_resolver\nget_resolver().url_patterns"
    assert imported_heavy_libraries(code, FACENITION_WARM_UP="0") == []


@pytest.mark.faces
def test_the_dlib_pipeline_never_imports_tensorflow():
    code = "import django\ndjango.setup()\nfrom matching.reading import face_pipeline\nface_pipeline().warm_up()"
    assert set(imported_heavy_libraries(code)) & {"tensorflow", "tf_keras", "keras", "torch", "onnxruntime"} == set()


def test_gunicorn_gives_each_worker_its_share_of_the_cores():
    code = (
        "import json, os, runpy\n"
        "runpy.run_path('facenition/gunicorn.conf.py')\n"
        f"print(json.dumps({{name: os.environ[name] for name in {THREAD_POOL_VARIABLES!r}}}))"
    )
    share = str(max(1, len(os.sched_getaffinity(0)) // 2))
    assert run_python(code, WEB_CONCURRENCY="2") == {
        "OMP_NUM_THREADS": share,
        "OPENBLAS_NUM_THREADS": share,
        "OPENCV_FOR_THREADS_NUM": share,
        "TF_NUM_INTRAOP_THREADS": share,
        "TF_NUM_INTEROP_THREADS": "1",
    }
