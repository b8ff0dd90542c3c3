"""What the shared services hold per unit of work, for docs/scaling.md: Redis bytes per rate-limit
counter and per queued code delivery, PostgreSQL bytes per row (table and indexes) of what grows
with use, and the database connections one host opens.

    .venv/bin/python -m bench.shared_services [--rows 5000] [--redis-url redis://127.0.0.1:6379/12]

It works on a database of its own (`facenition_bench_services`, recreated each run) and a Redis DB
it empties first (12 unless told otherwise): never point it at data you keep.
"""

import argparse
import os
import secrets
import sys

from bench.common import machine, require_module_run, table

require_module_run(__package__)

DATABASE = "facenition_bench_services"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    args = parser.parse_args()

    import psycopg

    with psycopg.connect(f"{args.postgres}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}"')
        admin.execute(f'CREATE DATABASE "{DATABASE}"')
    os.environ.update(
        DJANGO_SETTINGS_MODULE="facenition.settings",
        DATABASE_URL=f"{args.postgres}/{DATABASE}",
        REDIS_URL=args.redis_url,
        FACENITION_WARM_UP="0",
    )
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(48))
    os.environ.setdefault("FACENITION_TOKEN_KEY", secrets.token_urlsafe(48))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    print(f"machine: {machine()}")
    print(f"rows per measurement: {args.rows}\n")
    print(table(["Redis: what", "bytes each"], redis_footprint(args.rows, args.redis_url)))
    print()
    print(table(["PostgreSQL: a row of", "table", "bytes each (table + indexes)"], postgres_footprint(args.rows)))
    print()
    print(connections_per_host())


def redis_footprint(count, url):
    import redis
    from django.conf import settings

    from credentials.tasks import deliver_code
    from facenition.celery import app
    from facenition.ratelimits import rate_limit_count

    store = redis.Redis.from_url(url)
    store.flushdb()
    rows = []

    def used():
        return store.info("memory")["used_memory"]

    before = used()
    for number in range(count):
        rate_limit_count(group="bench", key=f"203.0.113.{number}", rate="10/h", message="")
    rows.append(("a rate-limit counter (one key counted in one window)", round((used() - before) / count)))

    app.conf.task_always_eager = False
    app.conf.broker_url = settings.REDIS_URL
    before = used()
    for _ in range(count):
        deliver_code.apply_async(args=[secrets.token_hex(16), "sms"], queue="bench-footprint")
    rows.append(("a queued code delivery (one channel of one verification)", round((used() - before) / count)))
    store.flushdb()
    return rows


def postgres_footprint(count):
    from datetime import timedelta

    from django.db import connection
    from django.utils import timezone

    from credentials.models import Client, ClientToken, Verification
    from enrollment.models import Enrollment
    from matching.models import Face, Gallery, Subject, SubjectKey

    now = timezone.now()
    client = Client.objects.create(name="bench")
    Verification.objects.bulk_create(
        Verification(email=f"p{n}@example.test", phone=f"+1415555{n % 10000:04d}", code_seed=secrets.token_hex(16),
                     key_id="0badc0de", expires_at=now) for n in range(count)
    )  # fmt: skip
    ClientToken.objects.bulk_create(
        ClientToken(client=client, prefix=secrets.token_hex(6), digest=secrets.token_hex(32), expires_at=now)
        for _ in range(count)
    )
    Enrollment.objects.bulk_create(
        Enrollment(client=client, accuracy=4, scheme_version=2, key_id="0badc0de", token_digest=secrets.token_hex(32),
                   subject=f"user-{n}", expires_at=now + timedelta(days=1)) for n in range(count)
    )  # fmt: skip
    gallery = Gallery.objects.create(client=client)
    subjects = Subject.objects.bulk_create(
        Subject(gallery=gallery, name=f"user-{n}", sealed_metadata=secrets.token_bytes(40)) for n in range(count)
    )
    SubjectKey.objects.bulk_create(
        SubjectKey(subject=subject, wrapped_key=secrets.token_bytes(60), key_id="0badc0de") for subject in subjects
    )
    Face.objects.bulk_create(
        Face(subject=subject, sealed_embedding=secrets.token_bytes(540), model_name="Dlib", detector_name="dlib",
             descriptor="dlib", box_left=0, box_top=0, box_width=200, box_height=200, quality=100.0)
        for subject in subjects
    )  # fmt: skip
    rows = []
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
        for what, model in (
            ("v2 verification", Verification),
            ("client token", ClientToken),
            ("identity token (enrollment)", Enrollment),
            ("gallery subject", Subject),
            ("gallery subject's key", SubjectKey),
            ("gallery face (sealed embedding)", Face),
        ):
            table_name = model._meta.db_table
            cursor.execute("SELECT pg_total_relation_size(%s)", [table_name])
            rows.append((what, table_name, round(cursor.fetchone()[0] / count)))
    return rows


def connections_per_host():
    from django.conf import settings

    workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
    threads = int(os.environ.get("GUNICORN_THREADS", "4"))
    celery = 2  # `make worker`'s --concurrency
    return (
        f"PostgreSQL connections one host may hold (CONN_MAX_AGE {settings.DATABASES['default']['CONN_MAX_AGE']} s: "
        f"one per thread that served a request): {workers} workers x {threads} threads + {celery} Celery processes "
        f"+ 1 beat = {workers * threads + celery + 1}"
    )


if __name__ == "__main__":
    sys.exit(main())
