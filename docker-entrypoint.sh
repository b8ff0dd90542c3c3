#!/bin/sh
# The Procfile's processes in one image. `web` runs the release step first (migrations and the cache
# table; the static files were collected at build time), as the Procfile's `release` does. `front`
# is nginx before `web` (deploy/nginx.conf): it listens on BIND and passes whole requests on to
# FRONT_UPSTREAM (web:8000, compose's name for the web process).
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
    front)
        mkdir -p /tmp/front
        sed -e "s|\${FRONT_LISTEN}|${FRONT_LISTEN:-$BIND}|" -e "s|\${FRONT_UPSTREAM}|${FRONT_UPSTREAM:-web:8000}|" \
            deploy/nginx.conf >/tmp/front/nginx.conf
        exec /usr/sbin/nginx -p /tmp/front -e stderr -c /tmp/front/nginx.conf
        ;;
    *)
        exec "$@"
        ;;
esac
