"""Versioned SQL migrations with a runner that records what it applied.

Files are ``migrations/NNNN_name.sql``; each runs in its own transaction and is recorded
in ``candleflow.schema_migrations`` with its checksum. Re-running applies nothing new; a
changed file that was already applied is an error (write a new migration instead). An
advisory lock serialises concurrent runners (two ``make up`` at once, say).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from candleflow.db import locks
from candleflow.errors import MigrationError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

_BOOKKEEPING = """
CREATE SCHEMA IF NOT EXISTS candleflow;
CREATE TABLE IF NOT EXISTS candleflow.schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text()

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def available() -> list[Migration]:
    found = []
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        number, _, name = path.stem.partition("_")
        found.append(Migration(int(number), name, path))
    return found


def latest_version() -> int:
    return max(m.version for m in available())


def current_version(conn) -> int | None:
    """The highest applied version, or None for a database never migrated."""
    with conn, conn.cursor() as cur:  # ends its transaction: callers may switch modes after
        cur.execute("SELECT to_regclass('candleflow.schema_migrations') IS NOT NULL")
        if not cur.fetchone()[0]:
            return None
        cur.execute("SELECT max(version) FROM candleflow.schema_migrations")
        return cur.fetchone()[0]


def migrate(conn, *, upto: int | None = None) -> list[int]:
    """Apply every pending migration (up to version ``upto`` when given: a test of a later
    migration on an older warehouse); returns the versions applied (empty when current)."""
    if conn.autocommit:
        conn.autocommit = False
    applied_now: list[int] = []
    with conn, conn.cursor() as cur:
        locks.lock_migrations(cur)
        cur.execute(_BOOKKEEPING)
        cur.execute("SELECT version, checksum FROM candleflow.schema_migrations")
        done = dict(cur.fetchall())
        for migration in available():
            if upto is not None and migration.version > upto:
                break
            if migration.version in done:
                if done[migration.version] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.path.name} changed after it was applied; "
                        "add a new migration instead of editing an applied one"
                    )
                continue
            log.info("applying migration %s", migration.path.name)
            cur.execute(migration.sql)
            cur.execute(
                "INSERT INTO candleflow.schema_migrations (version, name, checksum)"
                " VALUES (%s, %s, %s)",
                (migration.version, migration.name, migration.checksum),
            )
            applied_now.append(migration.version)
    return applied_now


def check_current(conn) -> int:
    """The schema version, or ``MigrationError`` when it is behind this code."""
    version = current_version(conn)
    expected = latest_version()
    if version is None or version < expected:
        raise MigrationError(
            f"warehouse schema is at version {version}, this code needs {expected}; "
            "run `candleflow db migrate`"
        )
    return version
