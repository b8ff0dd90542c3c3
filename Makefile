# `make run` serves the API on 127.0.0.1:8000; `make test` runs the whole suite.
VENV := .venv
PY := $(VENV)/bin/python
# Test names derived from the checkout's path, so that two checkouts on one machine do not share a
# database or a Redis DB (1-15; 0 is left to servers). Both can be set: make test TEST_DATABASE_URL=...
CHECKOUT_ID := $(shell printf '%s' '$(CURDIR)' | cksum | cut -d' ' -f1)
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/facenition_$(shell printf '%x' $(CHECKOUT_ID))
TEST_REDIS_URL ?= redis://127.0.0.1:6379/$(shell expr $(CHECKOUT_ID) % 15 + 1)
# Where `make run` serves: make run BIND=127.0.0.1:8080
BIND ?= 127.0.0.1:8000
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/facenition_bench

.PHONY: nginx container-tools container-base container setup setup-dev browser run test test-fast test-names lint format worker beat calibrate calibrate-enrollment bench bench-gallery refresh-pins

$(VENV)/.installed: requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

# Tests, lint and benchmarks add their own packages on top of the server's.
$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# Two random keys of their own: Django's SECRET_KEY and the token key that seals identity tokens.
.env:
	sed -e "s/^SECRET_KEY=.*/SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(48))')/" \
		-e "s/^FACENITION_TOKEN_KEY=.*/FACENITION_TOKEN_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(48))')/" \
		.env.example > .env

setup: $(VENV)/.installed .env
	$(PY) manage.py place_weights

setup-dev: setup $(VENV)/.installed-dev

run: setup
	$(PY) manage.py migrate --noinput
	$(PY) manage.py createcachetable
	$(PY) manage.py check_models
	BIND=$(BIND) $(VENV)/bin/gunicorn facenition.wsgi --config facenition/gunicorn.conf.py

worker: setup
	$(VENV)/bin/celery -A facenition worker --loglevel INFO --concurrency 2

beat: setup
	$(VENV)/bin/celery -A facenition beat --loglevel INFO

# The demo page's test drives Debian's Chromium through chromedriver; without them it is skipped.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null \
		|| (apt-get update -qq && apt-get install -y -qq chromium chromium-driver) \
		|| echo "chromium and chromium-driver could not be installed: tests/test_demo.py will be skipped"

# Debian's nginx-light: tests/test_front.py runs deploy/nginx.conf, the front the containers ship, before
# gunicorn (without nginx it is skipped, saying why). The test starts nginx itself; where apt starts
# Debian's nginx service on install (port 80), `systemctl disable --now nginx` stops it.
nginx:
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx \
		|| (apt-get update -qq && apt-get install -y -qq nginx-light >/dev/null) \
		|| echo "nginx-light could not be installed: tests/test_front.py will be skipped"

# Docker's engine and debootstrap from Debian, and the engine started: the container test needs them
# (without them it is skipped, saying why).
container-tools:
	@command -v dockerd >/dev/null && command -v debootstrap >/dev/null \
		|| (apt-get update -qq && apt-get install -y -qq docker.io debootstrap >/dev/null) \
		|| echo "docker.io and debootstrap could not be installed: tests/test_container.py will be skipped"
	@docker info >/dev/null 2>&1 || ! command -v dockerd >/dev/null \
		|| (nohup dockerd >/tmp/facenition-dockerd.log 2>&1 & \
			for _ in $$(seq 30); do docker info >/dev/null 2>&1 && break; sleep 1; done)

# No registry here: the Debian base image is built from Debian's packages, once.
BASE_IMAGE ?= facenition-base:bookworm
container-base: container-tools
	@docker image inspect $(BASE_IMAGE) >/dev/null 2>&1 || ( \
		root=$$(mktemp -d) && debootstrap --variant=minbase bookworm $$root http://deb.debian.org/debian >/dev/null \
		&& tar -C $$root -c . | docker import - $(BASE_IMAGE) && rm -rf $$root)

# The image of web, worker and beat (with a registry: docker build -t facenition-server .). pip in
# the build trusts the CA bundle named here (this machine's reaches PyPI through a re-signing proxy).
BUILD_CA_BUNDLE ?= $(wildcard /etc/ssl/certs/ca-certificates.crt)
container: container-base
	$(if $(BUILD_CA_BUNDLE),cp $(BUILD_CA_BUNDLE) build-ca.crt,rm -f build-ca.crt)
	docker build --quiet --network host --build-arg BASE=$(BASE_IMAGE) -t facenition-server .

test: setup-dev browser nginx container-tools
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
		$(PY) -m pytest $(PYTEST_ARGS)

# The database and Redis DB `make test` uses in this checkout.
test-names:
	@echo "TEST_DATABASE_URL=$(TEST_DATABASE_URL)"
	@echo "TEST_REDIS_URL=$(TEST_REDIS_URL)"

# Everything but the tests that need the face models, a Celery worker or the fake SMTP/SMS servers,
# and those that start gunicorn or another process that loads the app (markers in pyproject.toml).
test-fast: setup-dev
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
		$(PY) -m pytest -m "not faces and not worker and not network and not subprocess" $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

refresh-pins: $(VENV)/.installed-dev
	$(PY) -m pip list --outdated --format columns

# The accuracy tables in docs/accuracy.md, measured with people held out (embeddings cached under
# $$XDG_CACHE_HOME/facenition, never in the repository).
calibrate: setup
	$(PY) manage.py calibrate_match

calibrate-enrollment: setup
	$(PY) manage.py calibrate_enrollment

# Figures for BENCHMARKS.md: the pipeline next to dlib by hand and deepface, then /match over HTTP.
bench: setup-dev
	@# deepface's default detector needs OpenCV's Haar cascades, which OpenCV 5 wheels no longer ship.
	test -d /usr/share/opencv4/haarcascades || (apt-get update -qq && apt-get install -y -qq opencv-data) \
		|| echo "opencv-data could not be installed: bench.pipeline will leave deepface's default call out"
	$(PY) -m bench.pipeline
	$(PY) -m bench.over_http --database-url $(BENCH_DATABASE_URL)
	$(PY) -m bench.speed --database-url $(BENCH_DATABASE_URL)

# Galleries at 1k to 1M faces, beside deepface's own search (about 30 minutes, most of it enrolling 1M faces).
bench-gallery: setup-dev
	$(PY) -m bench.gallery --database-url $(BENCH_DATABASE_URL)
