#!/bin/sh
# The Procfile's processes in one image. `web` runs the release step first (migrations and the cache
# table; the static files were collected at build time), as the Procfile's `release` does.
set -e
case "$1" in
    web)
        python manage.py migrate --noinput
        python manage.py createcachetable
        exec gunicorn facenition.wsgi --config facenition/gunicorn.conf.py
        ;;
    worker)
        exec celery -A facenition worker --loglevel INFO --concurrency "${CELERY_CONCURRENCY:-2}"
        ;;
    beat)
        exec celery -A facenition beat --loglevel INFO --schedule /tmp/celerybeat-schedule
        ;;
    *)
        exec "$@"
        ;;
esac
