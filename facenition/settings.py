"""Facenition settings: everything an operator may change is read from the environment here.

`.env.example` lists every variable. With no DATABASE_URL the server keeps its data in an
embedded SQLite file; with no REDIS_URL, Celery runs tasks in-process and the cache lives in
the database. Both fallbacks are announced in the log at start-up.
"""

import logging
import os
import sys
import warnings
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from facenition.env import (
    env,
    envbool,
    envchoice,
    envfloat,
    envint,
    envorigins,
    envrate,
    envurl,
    load_dotenv,
    problems,
)
from facenition.requestid import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
log = logging.getLogger("facenition")

load_dotenv(BASE_DIR / ".env")

DEBUG = envbool("DEBUG")
TESTING = "pytest" in sys.modules
# A missing secret is reported by the system check facenition.E001 rather than papered over.
MISSING_SECRET = "missing-secret-key"
SECRET_KEY = env("SECRET_KEY") or ("test-only-secret-key-" + "x" * 40 if TESTING else MISSING_SECRET)
# The key that seals identity tokens and derives one-time codes (facenition/keyring.py),
# apart from SECRET_KEY so that rotating Django's key changes nothing for tokens. Required: the check
# facenition.E004 stops a server without it, but for the tests and the embedded default (no
# DATABASE_URL), which run with a fixed development key and say so (facenition.W002).
MISSING_TOKEN_KEY = "missing-token-key"
DEVELOPMENT_TOKEN_KEY = "development-only-token-key-" + "d" * 40
FACENITION_TOKEN_KEY = env("FACENITION_TOKEN_KEY") or (
    "test-only-token-key-" + "t" * 40
    if TESTING
    else DEVELOPMENT_TOKEN_KEY
    if not env("DATABASE_URL")
    else MISSING_TOKEN_KEY
)
# Keys that no longer seal anything but still open the tokens sealed under them, comma-separated.
FACENITION_RETIRED_TOKEN_KEYS = env("FACENITION_RETIRED_TOKEN_KEYS")
ALLOWED_HOSTS = [h for h in env("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "corsheaders",
    "django_prometheus",
    "axes",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "facenition",
    "credentials",
    "enrollment",
    "matching",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "facenition.requestid.RequestIdMiddleware",
    # Before anything that can answer, so that refusals carry the CORS headers too.
    "corsheaders.middleware.CorsMiddleware",
    "facenition.deadline.RequestDeadlineMiddleware",
    "facenition.api.middleware.RequestSizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "facenition.urls"
# The admin's forms are the only ones that use CSRF; a refusal answers the JSON envelope.
CSRF_FAILURE_VIEW = "facenition.api.errors.csrf_failure_view"
WSGI_APPLICATION = "facenition.wsgi.application"
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASE_URL = envurl("DATABASE_URL", ("postgres", "postgresql", "sqlite"))
EMBEDDED_DATABASE = not DATABASE_URL
DATABASES = {"default": dj_database_url.parse(DATABASE_URL or f"sqlite:///{BASE_DIR / 'db.sqlite3'}", conn_max_age=60)}
# Every wait on a service a request depends on is bounded, so that a stalled service answers 502
# within FACENITION_REQUEST_DEADLINE_SECONDS and the worker lives on (checked at start-up).
# PostgreSQL: connecting (the TCP and start-up handshake, libpq's connect_timeout) and each statement.
FACENITION_DB_CONNECT_TIMEOUT_SECONDS = envint("FACENITION_DB_CONNECT_TIMEOUT_SECONDS", 3, minimum=1)
FACENITION_DB_STATEMENT_TIMEOUT_SECONDS = envint("FACENITION_DB_STATEMENT_TIMEOUT_SECONDS", 5, minimum=1)
# Any wait for PostgreSQL's answer on an open connection (facenition/db/base.py cuts it): above the
# statement timeout, so that PostgreSQL's own timeout ends a slow statement while it still can.
FACENITION_DB_READ_TIMEOUT_SECONDS = envint("FACENITION_DB_READ_TIMEOUT_SECONDS", 7, minimum=1)
# The health check before a connection is reused (SELECT 1): slower than this, a new connection is made.
FACENITION_DB_HEALTH_CHECK_SECONDS = envfloat("FACENITION_DB_HEALTH_CHECK_SECONDS", 1, minimum=0.1)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["ENGINE"] = "facenition.db"
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = FACENITION_DB_CONNECT_TIMEOUT_SECONDS
    # A server gone from the network (unacknowledged data, or an idle connection whose peer vanished)
    # is noticed by TCP within the same bound.
    DATABASES["default"]["OPTIONS"].update(
        keepalives=1,
        keepalives_idle=30,
        keepalives_interval=5,
        keepalives_count=3,
        tcp_user_timeout=FACENITION_DB_READ_TIMEOUT_SECONDS * 1000,
    )
    # Not in the test runner's own process, which creates and drops whole databases (the servers it starts have it).
    if not TESTING:
        DATABASES["default"]["OPTIONS"]["options"] = (
            f"-c statement_timeout={FACENITION_DB_STATEMENT_TIMEOUT_SECONDS * 1000}"
        )
    # A connection is checked before reuse, so one that died while idle costs a reconnect, not a 502.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Redis (cache and rate limits, broker): connecting and each command.
FACENITION_REDIS_TIMEOUT_SECONDS = envfloat("FACENITION_REDIS_TIMEOUT_SECONDS", 2, minimum=0.1)
# The whole request, from the first byte of its body to the answer; below gunicorn's timeout.
FACENITION_REQUEST_DEADLINE_SECONDS = envint("FACENITION_REQUEST_DEADLINE_SECONDS", 30, minimum=1)
# How long a client may take to send its body; a slower one gets 408 and its thread back.
FACENITION_BODY_READ_SECONDS = envint("FACENITION_BODY_READ_SECONDS", 20, minimum=1)
# gunicorn's own timeout (facenition/gunicorn.conf.py reads the same variable).
GUNICORN_TIMEOUT = envint("GUNICORN_TIMEOUT", 60, minimum=1)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = envurl("REDIS_URL", ("redis", "rediss", "unix"))
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "socket_connect_timeout": FACENITION_REDIS_TIMEOUT_SECONDS,
                "socket_timeout": FACENITION_REDIS_TIMEOUT_SECONDS,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "facenition_cache"}}

# With no Redis, tasks run in the web process; the in-memory transport named with a host, so that
# kombu does not warn "No hostname was supplied" on the first task.
CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_ACKS_LATE = True
# The worker and beat log through LOGGING like the web process (request id "-", JSON with LOG_FORMAT=json).
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A task a worker took but never acknowledged (the worker was killed) goes back to the queue after
# this many seconds. It must be shorter than a code's life, so that the code still goes out, and
# longer than the longest retry back-off, which Redis also holds unacknowledged (checked at start-up).
FACENITION_BROKER_VISIBILITY_SECONDS = envint("FACENITION_BROKER_VISIBILITY_SECONDS", 300, minimum=1)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "visibility_timeout": FACENITION_BROKER_VISIBILITY_SECONDS,
    # Look for such tasks every 10 s (kombu's default scans only every 10th time, 100 s).
    "unacked_restore_interval": 10,
    "unacked_restore_throttle": 1,
    "socket_connect_timeout": FACENITION_REDIS_TIMEOUT_SECONDS,
    "socket_timeout": FACENITION_REDIS_TIMEOUT_SECONDS,
}
# Publishing a task: one retry, then the request answers 502 (nothing was sent).
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# whitenoise serves the admin's (and the docs page's) files under gunicorn, straight from the
# installed apps: no collectstatic step for a checkout to forget.
WHITENOISE_USE_FINDERS = True
# STATIC_ROOT exists only once collectstatic ran (the Procfile's release step); until then whitenoise
# would warn at every start about a folder it does not need.
warnings.filterwarnings("ignore", message="No directory at: ", category=UserWarning)

# Uploads: ten images of at most 10 MB each, base64 in JSON included.
FACENITION_MAX_IMAGES = envint("FACENITION_MAX_IMAGES", 10, minimum=1)
FACENITION_MAX_IMAGE_BYTES = envint("FACENITION_MAX_IMAGE_BYTES", 10 * 1024 * 1024, minimum=1024)
FACENITION_MAX_IMAGE_PIXELS = envint("FACENITION_MAX_IMAGE_PIXELS", 40_000_000, minimum=1)
# Pixels one request may ask for, all its images together, read from their headers before any is
# decoded: twenty 12-megapixel phone photos.
FACENITION_MAX_REQUEST_PIXELS = envint("FACENITION_MAX_REQUEST_PIXELS", 240_000_000, minimum=1)
# A photo's longer side may be at most this many times its shorter one.
FACENITION_MAX_ASPECT_RATIO = envfloat("FACENITION_MAX_ASPECT_RATIO", 20, minimum=1)
# Photos with more pixels are decoded at reduced size (JPEG: by the decoder itself), one at a time.
FACENITION_DECODE_MAX_PIXELS = envint("FACENITION_DECODE_MAX_PIXELS", 16_000_000, minimum=1)
DATA_UPLOAD_MAX_MEMORY_SIZE = FACENITION_MAX_IMAGES * FACENITION_MAX_IMAGE_BYTES * 4 // 3 + 1024 * 1024
# Face photos never reach the disk: every upload stays in memory, whatever its size (Django's default
# writes files of a body over 2.5 MB to temporary files). The request as a whole is capped at
# FACENITION_MAX_REQUEST_BYTES before anything reads it.
FILE_UPLOAD_HANDLERS = ["facenition.api.uploads.InMemoryOnlyUploadHandler"]
# Two image fields of ten images, base64 in JSON included, plus room for the other fields.
FACENITION_MAX_REQUEST_BYTES = 2 * FACENITION_MAX_IMAGES * FACENITION_MAX_IMAGE_BYTES * 4 // 3 + 1024 * 1024
# Two image fields at most per request (/match: image and reference).
DATA_UPLOAD_MAX_NUMBER_FILES = 2 * FACENITION_MAX_IMAGES + 2

# Client tokens.
FACENITION_CLIENT_TOKEN_DAYS = envint("FACENITION_CLIENT_TOKEN_DAYS", 30, minimum=1)
# v1 /generateToken (and X-API-Version: 1 on /v2/generateToken) issues a client token without proof
# of an email or phone. False: it answers 403, and every client is a verified v2 pair.
FACENITION_V1_TOKENS = envbool("FACENITION_V1_TOKENS", True)
# New v1 clients one client IP may make: each has a face budget of its own (FACENITION_RATE_LIMIT_PER_TOKEN).
FACENITION_V1_TOKEN_RATE_PER_IP = envrate("FACENITION_V1_TOKEN_RATE_PER_IP", "10/h")

# Face pipeline. DEEPFACE_HOME is where `make setup` places the weights (under .deepface/weights).
DEEPFACE_HOME = env("DEEPFACE_HOME", str(BASE_DIR))
os.environ["DEEPFACE_HOME"] = DEEPFACE_HOME
# The face model new tokens, galleries and /match use: SFace (the default) or Dlib (checked at start-up,
# matching.checks). Tokens and galleries made with the other keep being read by it.
FACENITION_MODEL = env("FACENITION_MODEL", "SFace")
FACENITION_DETECTOR = env("FACENITION_DETECTOR", "dlib")
FACENITION_DETECT_MAX_SIDE = envint("FACENITION_DETECT_MAX_SIDE", 640, minimum=32)
# dlib's detector: "cheap-first" looks at the detection copy as it is, and again upsampled only when
# that finds no face or the request needs every face; "thorough" always upsamples (the costly pass).
FACENITION_DETECT_SCHEDULE = envchoice("FACENITION_DETECT_SCHEDULE", "cheap-first", ("cheap-first", "thorough"))
# Photos of one request read side by side, at most (1: one after the other). It also bounds how
# many decoded photos a worker holds at once; side by side only on cores no other request is using.
FACENITION_PHOTO_THREADS = envint("FACENITION_PHOTO_THREADS", 2, minimum=1)
FACENITION_WARM_UP = envbool("FACENITION_WARM_UP", True)
# Dlib descriptor variant (`plain` or `mirror`), dlib's jitter count, and where the face is aligned
# (`photo`: the full-size photo, `detection`: the detection copy). The accuracy levels are calibrated
# for the defaults; docs/decisions.md §7 has what each variant measured.
FACENITION_DESCRIPTOR = env("FACENITION_DESCRIPTOR", "plain")
FACENITION_DESCRIPTOR_JITTERS = envint("FACENITION_DESCRIPTOR_JITTERS", 0)
FACENITION_ALIGN_ON = env("FACENITION_ALIGN_ON", "photo")
# Faces narrower (pixels of the photo) or blurrier (variance of the Laplacian) than this are refused:
# `manage.py measure_robustness` shows genuine pairs failing far more often below about 60 px. The
# sharpness also falls with contrast (a dark photo scores low), so its floor is off by default.
FACENITION_MIN_FACE_SIZE = envint("FACENITION_MIN_FACE_SIZE", 60)
FACENITION_MIN_FACE_SHARPNESS = envfloat("FACENITION_MIN_FACE_SHARPNESS", 0)
# Real face photos used by the tests and calibration scripts; never copied into the repository.
FACENITION_FACES_DIR = BASE_DIR / env("FACENITION_FACES_DIR", "../shared/faces")

# Browser pages on these origins may call the API (preflight included); none by default.
CORS_ALLOWED_ORIGINS = envorigins("CORS_ALLOWED_ORIGINS")
CORS_ALLOW_HEADERS = ("accept", "content-type", "x-auth-token", "x-api-version", "x-request-id")
CORS_EXPOSE_HEADERS = ("x-request-id", "retry-after")

REST_FRAMEWORK = {
    "DEFAULT_VERSIONING_CLASS": "facenition.api.versioning.FacenitionVersioning",
    "DEFAULT_AUTHENTICATION_CLASSES": ["credentials.auth.ClientTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["facenition.api.auth.HasClientToken"],
    "DEFAULT_PARSER_CLASSES": [
        "facenition.api.parsers.JSONParser",
        "facenition.api.parsers.MultiPartParser",
        "facenition.api.parsers.FormParser",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "facenition.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "facenition.api.schema.EndpointSchema",
}

LOG_LEVEL = envchoice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))
# Every line carries the request id ("-" outside a request); LOG_FORMAT=json writes one JSON object a line.
LOG_FORMAT = envchoice("LOG_FORMAT", "plain", ("plain", "json"))
LOGGING = logging_config(log_format=LOG_FORMAT, level=LOG_LEVEL)

# Prometheus metrics at /metrics (per-endpoint latency and status counts): off, answering 404, until
# a token is set; then scrapers send `Authorization: Bearer <token>`.
FACENITION_METRICS_TOKEN = env("FACENITION_METRICS_TOKEN")
if FACENITION_METRICS_TOKEN and len(FACENITION_METRICS_TOKEN) < 16:
    problems.add("FACENITION_METRICS_TOKEN", "…", "empty (metrics off) or a secret of at least 16 characters")
# With several gunicorn workers, an empty folder where each writes its counts, so that a scrape sees
# them all (prometheus_client's multiprocess mode); unset, a scrape sees the worker that answers it.
PROMETHEUS_MULTIPROC_DIR = env("PROMETHEUS_MULTIPROC_DIR")
if PROMETHEUS_MULTIPROC_DIR and not Path(PROMETHEUS_MULTIPROC_DIR).is_dir():
    problems.add("PROMETHEUS_MULTIPROC_DIR", PROMETHEUS_MULTIPROC_DIR, "an existing folder")

SPECTACULAR_SETTINGS = {
    "TITLE": "Facenition API",
    "DESCRIPTION": (
        "Face enrollment, authentication and matching without a biometric database. Every endpoint but "
        '/health and /ready is POST and answers JSON: `{"ok": true, ...}` or `{"ok": false, "error": "..."}`. '
        "A path without a version prefix is v1; /v1/ and /v2/ prefixes choose, and an X-API-Version header "
        "beats the prefix. Images are multipart files or base64 strings in JSON. Every answer carries "
        "X-Request-Id (yours, if you sent one)."
    ),
    "VERSION": "2",
    # Where `make run` serves; a generated client takes its own base URL.
    "SERVERS": [{"url": "http://127.0.0.1:8000", "description": "make run"}],
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_GENERATE_CHOICE_DESCRIPTION": False,
    "PREPROCESSING_HOOKS": ["facenition.api.schema.public_endpoints"],
    "GET_MOCK_REQUEST": "facenition.api.schema.mock_request",
    "POSTPROCESSING_HOOKS": [
        "facenition.api.schema.finish",
    ],
}

# v2 onboarding: one-time codes, delivery, rate limits
# A verification's two codes stay valid this long; the pair then has as long again to ask for its token.
FACENITION_CODE_LIFETIME_SECONDS = envint("FACENITION_CODE_LIFETIME_SECONDS", 600, minimum=1)
# Wrong tries one caller (one client IP) may make at one verification; others may still try.
FACENITION_CODE_MAX_FAILURES = envint("FACENITION_CODE_MAX_FAILURES", 5, minimum=1)
# Wrong tries from all callers together before a verification locks and the pair must start over.
FACENITION_CODE_MAX_FAILURES_TOTAL = envint("FACENITION_CODE_MAX_FAILURES_TOTAL", 20, minimum=1)
# Rates are django-ratelimit's "count/period" ("5/10m": five per ten minutes).
FACENITION_CODE_SEND_RATE = envrate("FACENITION_CODE_SEND_RATE", "5/10m")  # per email + phone pair
# Sends to one phone number, and to one email address, whatever it is paired with (SMS pumping).
FACENITION_CODE_SEND_RATE_PER_RECIPIENT = envrate("FACENITION_CODE_SEND_RATE_PER_RECIPIENT", "10/h")
FACENITION_CODE_SEND_RATE_PER_IP = envrate("FACENITION_CODE_SEND_RATE_PER_IP", "20/h")  # sends asked by one client IP
# Wrong codes per client IP across every verification.
FACENITION_CODE_FAILURE_RATE_PER_IP = envrate("FACENITION_CODE_FAILURE_RATE_PER_IP", "20/h")
# Wrong guesses at one phone's code (the email's code right) and at one email's code (the SMS code
# right), whatever the pair and the caller: what bounds guessing someone else's code.
FACENITION_CODE_FAILURE_RATE_PER_RECIPIENT = envrate("FACENITION_CODE_FAILURE_RATE_PER_RECIPIENT", "30/d")
FACENITION_RATE_LIMIT_PER_IP = envrate("FACENITION_RATE_LIMIT_PER_IP", "60/m")  # endpoints without a client token
FACENITION_RATE_LIMIT_PER_TOKEN = envrate("FACENITION_RATE_LIMIT_PER_TOKEN", "120/m")  # face endpoints
# How many reverse proxies in front of the server append to X-Forwarded-For. 0: trust only REMOTE_ADDR.
FACENITION_TRUSTED_PROXIES = envint("FACENITION_TRUSTED_PROXIES", 0)
# Counted in CACHES["default"]: Redis, or the database cache when there is no REDIS_URL. An
# unreachable store refuses requests (502) rather than letting them through.
RATELIMIT_USE_CACHE = "default"
RATELIMIT_FAIL_OPEN = False
# Provider errors are retried after 1, 2, 4, ... times this many seconds, never past the code's expiry.
FACENITION_DELIVERY_RETRY_SECONDS = envint("FACENITION_DELIVERY_RETRY_SECONDS", 10)
FACENITION_DELIVERY_MAX_RETRIES = envint("FACENITION_DELIVERY_MAX_RETRIES", 5)
# A code still "queued" this long after it was asked for lost its task (a broker restarted without
# persistence): Celery beat queues it again, checking this often.
FACENITION_DELIVERY_STALLED_SECONDS = envint("FACENITION_DELIVERY_STALLED_SECONDS", 60, minimum=10)

# The admin's sign-in (django-axes): after this many wrong passwords for one username, or from one
# address, within the cool-off, that username and that address are refused (429), the right password
# too, until the cool-off has passed since the last failure. `manage.py axes_reset` lifts every lock.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = envint("FACENITION_ADMIN_LOGIN_FAILURES", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(seconds=envint("FACENITION_ADMIN_LOGIN_COOLOFF_SECONDS", 900, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
# The address as the rate limits read it (FACENITION_TRUSTED_PROXIES), never a header taken on trust.
AXES_CLIENT_IP_CALLABLE = "facenition.admin.sign_in_address"

# HTTPS, for a server reached over it (FACENITION_HTTPS=true; `manage.py check --deploy` then passes):
# the session and CSRF cookies travel only over HTTPS, plain HTTP is redirected (but for /health,
# /ready and /metrics, which probes and scrapers reach from inside), and browsers are told to use
# HTTPS alone for FACENITION_HSTS_SECONDS. Behind FACENITION_TRUSTED_PROXIES proxies, the request's
# scheme is the one the proxy states in X-Forwarded-Proto, which it must set, replacing the caller's.
FACENITION_HTTPS = envbool("FACENITION_HTTPS")
FACENITION_HSTS_SECONDS = envint("FACENITION_HSTS_SECONDS", 365 * 24 * 3600)
FACENITION_HSTS_INCLUDE_SUBDOMAINS = envbool("FACENITION_HSTS_INCLUDE_SUBDOMAINS", True)
FACENITION_HSTS_PRELOAD = envbool("FACENITION_HSTS_PRELOAD", True)
if FACENITION_HTTPS:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^(health|ready|metrics)$"]
    SECURE_HSTS_SECONDS = FACENITION_HSTS_SECONDS
    SECURE_HSTS_INCLUDE_SUBDOMAINS = FACENITION_HSTS_INCLUDE_SUBDOMAINS
    SECURE_HSTS_PRELOAD = FACENITION_HSTS_PRELOAD
    if FACENITION_TRUSTED_PROXIES:
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# The OpenAPI schema is one for every version (the version is a header), so drf-spectacular's
# deploy check warns that each view's versioning class is one it does not split by; its check for a
# schema that fails to build (drf_spectacular.E001) stays on, and tests/test_openapi.py checks the rest.
SILENCED_SYSTEM_CHECKS = ["drf_spectacular.W001"]

# Email through Django's SMTP backend; with no EMAIL_HOST, messages are written to the console.
EMAIL_HOST = env("EMAIL_HOST")
EMAIL_PORT = envint("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS")
EMAIL_USE_SSL = envbool("EMAIL_USE_SSL")
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    problems.add("EMAIL_USE_SSL", env("EMAIL_USE_SSL"), "false when EMAIL_USE_TLS is true (use one or the other)")
EMAIL_TIMEOUT = envint("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "facenition@localhost")
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend"
)

# SMS through Twilio (django-twilio reads TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN); with no
# account configured, texts are written to the log instead.
TWILIO_ACCOUNT_SID = env("TWILIO_ACCOUNT_SID")
TWILIO_AUTH_TOKEN = env("TWILIO_AUTH_TOKEN")
TWILIO_DEFAULT_CALLERID = env("TWILIO_DEFAULT_CALLERID")
# Another address for Twilio's REST API (a regional endpoint, or the fake one the tests run).
FACENITION_TWILIO_API_URL = envurl("FACENITION_TWILIO_API_URL", ("http", "https"))
FACENITION_TWILIO_TIMEOUT_SECONDS = envint("FACENITION_TWILIO_TIMEOUT_SECONDS", 10, minimum=1)

# `celery -A facenition beat` runs both purges hourly (Procfile: beat).
CELERY_BEAT_SCHEDULE = {
    "purge-expired-credentials": {"task": "credentials.tasks.purge_expired_credentials", "schedule": 3600.0},
    "purge-expired-enrollments": {"task": "enrollment.tasks.purge_expired_enrollments", "schedule": 3600.0},
    "requeue-stalled-deliveries": {
        "task": "credentials.tasks.requeue_stalled_deliveries",
        "schedule": float(FACENITION_DELIVERY_STALLED_SECONDS),
    },
}
# Beat's own bookkeeping file, kept out of the checkout.
CELERY_BEAT_SCHEDULE_FILENAME = env("CELERY_BEAT_SCHEDULE_FILENAME", "/tmp/facenition-celerybeat-schedule")

# Identity tokens (enrollment)
# Lifetime of an identity token when /generate is not given `expires_in`, and the longest allowed.
FACENITION_IDENTITY_TOKEN_SECONDS = envint("FACENITION_IDENTITY_TOKEN_SECONDS", 365 * 24 * 3600, minimum=1)
FACENITION_IDENTITY_TOKEN_MAX_SECONDS = envint("FACENITION_IDENTITY_TOKEN_MAX_SECONDS", 5 * 365 * 24 * 3600, minimum=1)
# After this many consecutive failed /authenticate attempts on one token, a cool-down (429) ...
FACENITION_AUTH_COOLDOWN_FAILURES = envint("FACENITION_AUTH_COOLDOWN_FAILURES", 5, minimum=1)
FACENITION_AUTH_COOLDOWN_SECONDS = envint("FACENITION_AUTH_COOLDOWN_SECONDS", 30)
# ... and after this many, the token is locked (403) until the person enrolls again.
FACENITION_AUTH_LOCK_FAILURES = envint("FACENITION_AUTH_LOCK_FAILURES", 50, minimum=1)

# Galleries (1:N identification)
# How each worker searches a gallery: "exact" (every subject, one matrix product) or "ivf" (faiss-cpu's
# approximate inverted-file index) for galleries of at least FACENITION_GALLERY_IVF_MIN_SUBJECTS subjects.
FACENITION_GALLERY_INDEX = envchoice("FACENITION_GALLERY_INDEX", "exact", ("exact", "ivf"))
FACENITION_GALLERY_IVF_MIN_SUBJECTS = envint("FACENITION_GALLERY_IVF_MIN_SUBJECTS", 500_000, minimum=1)
# How many galleries a worker keeps in memory; the least recently searched one goes first.
FACENITION_GALLERY_CACHE_GALLERIES = envint("FACENITION_GALLERY_CACHE_GALLERIES", 64, minimum=1)
# Where the workers of one host share one copy of each gallery (a snapshot file per gallery version, which
# holds opened embeddings): a folder in memory (tmpfs), 0700, checked at start-up; empty for a copy per worker.
FACENITION_GALLERY_SNAPSHOT_DIR = env("FACENITION_GALLERY_SNAPSHOT_DIR", "/dev/shm/facenition-galleries")

if problems:
    raise ImproperlyConfigured(
        "Bad settings (in the environment or .env; .env.example lists every one):\n  " + "\n  ".join(problems)
    )
