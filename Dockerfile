# One image for the web process, the Celery worker, beat and the front before the web process (nginx,
# deploy/nginx.conf): `docker run IMAGE web|worker|beat|front`.
# BASE is a Debian bookworm image: debian:bookworm-slim from a registry, or, where no registry is
# reachable, one `make container` builds from Debian's packages with debootstrap.
ARG BASE=debian:bookworm-slim
FROM ${BASE}

RUN apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends python3 python3-venv ca-certificates nginx-light >/dev/null \
    && rm -rf /var/lib/apt/lists/*

ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/app/.venv \
    PATH=/app/.venv/bin:$PATH \
    DEEPFACE_HOME=/app \
    XDG_CACHE_HOME=/app/.cache \
    BIND=0.0.0.0:8000

RUN useradd --create-home --uid 10001 facenition && mkdir /app && chown facenition /app
USER facenition
WORKDIR /app

# Packages first, so that a change of code rebuilds only what follows. Behind a proxy that re-signs
# TLS, `make container` puts the host's CA bundle in the context as build-ca.crt for pip to trust.
COPY --chown=facenition requirements.txt build-ca.cr[t] ./
RUN if [ -f build-ca.crt ]; then export PIP_CERT=/app/build-ca.crt; fi \
    && python3 -m venv .venv && pip install --no-cache-dir --quiet -r requirements.txt

COPY --chown=facenition . .
# The model weights are placed now, at build time: a container never downloads anything.
RUN if [ -f build-ca.crt ]; then export PIP_CERT=/app/build-ca.crt; fi \
    && python manage.py place_weights && SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput -v 0 \
    && rm -f build-ca.crt

EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['BIND'].rsplit(':', 1)[1] + '/ready', timeout=4)"
ENTRYPOINT ["./docker-entrypoint.sh"]
CMD ["web"]
