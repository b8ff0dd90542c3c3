"""A bad setting stops start-up, with a message that names the variable and the form it expects.

Each case starts a fresh process, as an operator would: `manage.py check`, or the Celery command
that `make worker` / `make beat` run.
"""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def start(command, **environment):
    env = {
        **os.environ,
        "SECRET_KEY": "s" * 50,
        "FACENITION_TOKEN_KEY": "t" * 50,
        "FACENITION_WARM_UP": "0",
        **environment,
    }
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def check(**environment):
    return start([sys.executable, "manage.py", "check"], **environment)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("DEBUG", "maybe", "expected true or false"),
        ("EMAIL_PORT", "abc", "expected a whole number, at least 1"),
        ("FACENITION_RATE_LIMIT_PER_IP", "lots", 'expected a rate "count/period" such as 60/m or 5/10m'),
        ("FACENITION_RATE_LIMIT_PER_TOKEN", "100/fortnight", 'expected a rate "count/period"'),
        ("FACENITION_CODE_SEND_RATE", "5 per 10m", 'expected a rate "count/period"'),
        ("FACENITION_CODE_SEND_RATE_PER_RECIPIENT", "ten", 'expected a rate "count/period"'),
        ("FACENITION_CODE_SEND_RATE_PER_IP", "20", 'expected a rate "count/period"'),
        ("FACENITION_CODE_FAILURE_RATE_PER_IP", "20/hour", 'expected a rate "count/period"'),
        ("FACENITION_CODE_FAILURE_RATE_PER_RECIPIENT", "-1/d", 'expected a rate "count/period"'),
        ("FACENITION_CODE_MAX_FAILURES_TOTAL", "0", "expected a whole number, at least 1"),
        ("FACENITION_V1_TOKEN_RATE_PER_IP", "many", 'expected a rate "count/period"'),
        ("FACENITION_MAX_IMAGES", "0", "expected a whole number, at least 1"),
        ("FACENITION_TRUSTED_PROXIES", "-1", "expected a whole number, at least 0"),
        ("FACENITION_ADMIN_LOGIN_FAILURES", "0", "expected a whole number, at least 1"),
        ("FACENITION_ADMIN_LOGIN_COOLOFF_SECONDS", "soon", "expected a whole number, at least 1"),
        ("FACENITION_WARM_UP", "sometimes", "expected true or false"),
        ("FACENITION_DETECT_SCHEDULE", "fast", "expected one of cheap-first, thorough"),
        ("FACENITION_PHOTO_THREADS", "0", "expected a whole number, at least 1"),
        ("LOG_FORMAT", "xml", "expected one of plain, json"),
        ("LOG_LEVEL", "LOUD", "expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        ("REDIS_URL", "127.0.0.1:6379", "expected a URL starting with redis://"),
        ("DATABASE_URL", "mysql://db/facenition", "expected a URL starting with postgres://"),
        (
            "CORS_ALLOWED_ORIGINS",
            "example.com",
            "expected comma-separated origins such as https://app.example.com (no path)",
        ),
    ],
)
def test_start_up_refuses_a_bad_setting_and_names_it(variable, value, expected):
    result = check(**{variable: value})
    assert result.returncode != 0
    assert f"{variable}={value!r}: {expected}" in result.stderr


def test_a_short_metrics_token_is_refused_without_being_shown():
    result = check(FACENITION_METRICS_TOKEN="hunter2")
    assert result.returncode != 0
    assert "FACENITION_METRICS_TOKEN='…': expected empty (metrics off) or a secret of at least 16" in result.stderr
    assert "hunter2" not in result.stderr


def test_start_up_lists_every_bad_setting_at_once():
    result = check(DEBUG="maybe", EMAIL_PORT="abc")
    assert result.returncode != 0
    assert "DEBUG='maybe'" in result.stderr and "EMAIL_PORT='abc'" in result.stderr


def test_email_tls_and_ssl_together_are_refused():
    result = check(EMAIL_USE_TLS="true", EMAIL_USE_SSL="true")
    assert result.returncode != 0
    assert "EMAIL_USE_SSL='true': expected false when EMAIL_USE_TLS is true" in result.stderr


@pytest.mark.subprocess  # loads the whole app, seconds
def test_good_settings_start():
    result = check(DEBUG="off", EMAIL_PORT="587", FACENITION_RATE_LIMIT_PER_IP="5/10m", LOG_FORMAT="json")
    assert result.returncode == 0, result.stderr


@pytest.mark.subprocess  # loads the whole app, seconds
@pytest.mark.parametrize("process", ["worker", "beat"])
def test_celery_refuses_to_start_without_redis(process):
    result = start([str(Path(sys.executable).parent / "celery"), "-A", "facenition", process], REDIS_URL="")
    assert result.returncode != 0
    assert "REDIS_URL is not set: a Celery worker or beat needs Redis" in result.stdout + result.stderr


def test_env_example_lists_every_setting():
    read = set(re.findall(r'\benv\w*\("([A-Z][A-Z0-9_]+)"', (ROOT / "facenition" / "settings.py").read_text()))
    served = set(
        re.findall(r'environ\.get\("([A-Z][A-Z0-9_]+)"', (ROOT / "facenition" / "gunicorn.conf.py").read_text())
    )
    listed = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert read - listed == set()
    assert listed - read - served == set()


@pytest.mark.subprocess
def test_a_server_declared_https_passes_the_deploy_checks():
    production = {
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "api.example.com",
        "EMAIL_HOST": "smtp.example.com",
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN": "twilio-token",
        "TWILIO_DEFAULT_CALLERID": "+14155550100",
    }
    command = [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"]

    plain = start(command, **production)
    https = start(command, **production, FACENITION_HTTPS="true")

    assert plain.returncode != 0 and "security.W012" in plain.stderr
    assert https.returncode == 0, https.stderr
    assert "System check identified no issues" in https.stdout


def test_a_total_of_wrong_codes_below_one_callers_share_is_refused():
    result = check(FACENITION_CODE_MAX_FAILURES="5", FACENITION_CODE_MAX_FAILURES_TOTAL="3")
    assert result.returncode != 0
    assert "FACENITION_CODE_MAX_FAILURES_TOTAL (3) must be at least FACENITION_CODE_MAX_FAILURES (5)" in result.stderr


@pytest.mark.subprocess  # loads the whole app, seconds
def test_without_redis_a_code_sent_in_process_logs_no_broker_warning():
    code = (
        "import django, logging; django.setup(); logging.basicConfig(level=logging.WARNING);"
        "from facenition.celery import app; "
        "conn = app.connection_for_write(); conn.info(); print('connected', conn.transport_cls)"
    )
    result = start([sys.executable, "-c", code], REDIS_URL="", DJANGO_SETTINGS_MODULE="facenition.settings")
    assert "connected memory" in result.stdout, result.stderr
    assert "No hostname was supplied" not in result.stderr


@pytest.mark.subprocess  # a pytest run of its own
def test_the_tests_without_postgresql_stop_at_once_saying_what_is_missing():
    result = start(
        [sys.executable, "-m", "pytest", "tests/test_health.py", "-q", "-p", "no:cacheprovider"],
        DATABASE_URL="postgres://postgres@127.0.0.1:1/nowhere",
    )
    assert result.returncode == 3
    assert "The tests need PostgreSQL at 127.0.0.1:1" in result.stdout + result.stderr
    assert "TEST_DATABASE_URL" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
