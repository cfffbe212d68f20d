from __future__ import annotations

import psycopg
import redis
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from psycopg import sql

from apps.core.health import safe_address

HOW_TO_START = {
    "PostgreSQL": (
        "start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
    ),
    "Redis": "start it with: redis-server --daemonize yes --bind 127.0.0.1 --port 6379",
}


class Command(BaseCommand):
    requires_system_checks: list[str] = []  # the checks themselves need Redis
    help = (
        "Stop with one clear message when PostgreSQL or Redis cannot be reached; "
        "with --create-database, create the database when it is missing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--create-database", action="store_true")

    def handle(self, *args, create_database, **options):
        db = settings.DATABASES["default"]
        address = f"{db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432}"
        params = {
            "host": db.get("HOST") or None,
            "port": db.get("PORT") or None,
            "user": db.get("USER") or None,
            "password": db.get("PASSWORD") or None,
            "connect_timeout": 3,
        }
        try:
            with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
                exists = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]
                ).fetchone()
                if not exists and create_database:
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))
                    self.stdout.write(f"created database {db['NAME']} on {address}")
        except psycopg.OperationalError as exc:
            reason = (
                (str(exc).strip().splitlines() or [type(exc).__name__])[-1].strip().rstrip("?.")
            )
            raise CommandError(
                f"PostgreSQL is not reachable at {address} (DATABASE_URL): {reason}; "
                f"{HOW_TO_START['PostgreSQL']}"
            ) from None
        try:
            redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=3).ping()
        except redis.RedisError as exc:
            raise CommandError(
                f"Redis is not reachable at {safe_address(settings.REDIS_URL)} (REDIS_URL): {exc}; "
                f"{HOW_TO_START['Redis']}"
            ) from None
        self.stdout.write(
            f"PostgreSQL at {address} and Redis at {safe_address(settings.REDIS_URL)}: ok"
        )
