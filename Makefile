# `make run` serves the API on 127.0.0.1:8000; `make test` runs the whole suite.
VENV := .venv
PY := $(VENV)/bin/python
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/facenition
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/facenition_bench

.PHONY: setup run test worker beat calibrate calibrate-enrollment bench

$(VENV)/.installed: requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

.env:
	sed "s/^SECRET_KEY=.*/SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(48))')/" .env.example > .env

setup: $(VENV)/.installed .env
	$(PY) manage.py place_weights

run: setup
	$(PY) manage.py migrate --noinput
	$(PY) manage.py createcachetable
	$(PY) manage.py check_models
	BIND=127.0.0.1:8000 $(VENV)/bin/gunicorn facenition.wsgi --config facenition/gunicorn.conf.py

worker: setup
	$(VENV)/bin/celery -A facenition worker --loglevel INFO --concurrency 2

beat: setup
	$(VENV)/bin/celery -A facenition beat --loglevel INFO

test: setup
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
		$(PY) -m pytest $(PYTEST_ARGS)

calibrate: setup
	$(PY) scripts/calibrate_match.py

calibrate-enrollment: setup
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} $(PY) scripts/calibrate_enrollment.py

# Figures for BENCHMARKS.md: the pipeline next to dlib by hand and deepface, then /match over HTTP.
bench: setup
	@# deepface's default detector needs OpenCV's Haar cascades, which OpenCV 5 wheels no longer ship.
	test -d /usr/share/opencv4/haarcascades || (apt-get update -qq && apt-get install -y -qq opencv-data) \
		|| echo "opencv-data could not be installed: bench.pipeline will leave deepface's default call out"
	$(PY) -m bench.pipeline
	$(PY) -m bench.http --database-url $(BENCH_DATABASE_URL)
