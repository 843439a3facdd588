"""The warehouse's read-only login, candleflow_reader: its password and its limits.

Migration 0003_analytics creates the role (LOGIN, SELECT on the analytics views only);
0009 limits it (statement_timeout 60 s in the warehouse database, 20 connections, no TEMP),
0012 adds idle_in_transaction_session_timeout 60 s. The role can lift its own timeouts;
``db.reader_guard`` enforces them from outside the role.
Migrations are plain SQL and must not hold a secret or read the environment, so
candleflow db migrate (and make up, and the CLI's own migration of the embedded server) call
configure_reader_from_env afterwards:

- CANDLEFLOW_READER_PASSWORD (on the embedded server, else a password generated once and
  kept in the home's ``secrets.json``) becomes the role's password, hashed on the client
  (SCRAM-SHA-256, libpq's PQencryptPasswordConn), so the plain text never reaches the
  server, its statement log or pg_stat_activity;
- CANDLEFLOW_READER_STATEMENT_TIMEOUT (default 60s) caps each statement of a BI session:
  a dashboard that scans every bar of every symbol is cancelled instead of holding a core;
- CANDLEFLOW_READER_CONNECTION_LIMIT (default 20) caps its sessions: a BI tool with a
  runaway pool cannot take the connections the loads need.
"""

from __future__ import annotations

import logging
import re

from psycopg2 import sql

from candleflow import config
from candleflow.errors import ConfigError

log = logging.getLogger(__name__)

READER_ROLE = "candleflow_reader"
PASSWORD_ENV = "CANDLEFLOW_READER_PASSWORD"  # noqa: S105 - a variable name, not a secret
TIMEOUT_ENV = "CANDLEFLOW_READER_STATEMENT_TIMEOUT"
LIMIT_ENV = "CANDLEFLOW_READER_CONNECTION_LIMIT"
DEFAULT_TIMEOUT = "60s"
DEFAULT_LIMIT = 20
_DURATION = re.compile(r"^\d+\s*(ms|s|min|h)?$")


def set_reader_password(conn, password: str, *, role: str = READER_ROLE) -> None:
    """Give ``role`` this password (committed by the caller's transaction; runs as a role
    allowed to ALTER ROLE, e.g. the one that ran the migrations)."""
    from psycopg2.extensions import encrypt_password

    if not password:
        raise ValueError(f"empty password for {role}; set {PASSWORD_ENV} to a non-empty value")
    hashed = encrypt_password(password, role, conn, "scram-sha-256")
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(hashed)
            )
        )
    log.info("password of role %s set (scram-sha-256)", role)


def reader_limits(environ: dict[str, str] | None = None) -> tuple[str, int]:
    """``(statement_timeout, connection limit)`` from the environment, checked."""
    timeout = config.setting(TIMEOUT_ENV, DEFAULT_TIMEOUT, env=environ)
    if not _DURATION.match(timeout):
        raise ConfigError(
            f"{TIMEOUT_ENV}={timeout!r}; expected a duration like 60s, 2min or 30000ms"
        )
    raw = config.setting(LIMIT_ENV, str(DEFAULT_LIMIT), env=environ)
    try:
        limit = int(raw)
    except ValueError:
        limit = -2
    if limit < -1:
        raise ConfigError(f"{LIMIT_ENV}={raw!r}; expected a whole number of connections")
    return timeout, limit


def set_reader_limits(conn, timeout: str, limit: int, *, role: str = READER_ROLE) -> None:
    """The role's statement_timeout and idle_in_transaction_session_timeout in this database
    and its connection limit (-1: none). The role can lift the two timeouts for itself: the
    reader guard (``db.reader_guard``) is what enforces them."""
    with conn.cursor() as cur:
        cur.execute("SELECT current_database()")
        database = cur.fetchone()[0]
        for setting in ("statement_timeout", "idle_in_transaction_session_timeout"):
            cur.execute(
                sql.SQL("ALTER ROLE {} IN DATABASE {} SET {} = {}").format(
                    sql.Identifier(role),
                    sql.Identifier(database),
                    sql.Identifier(setting),
                    sql.Literal(timeout),
                )
            )
        cur.execute(
            sql.SQL("ALTER ROLE {} CONNECTION LIMIT {}").format(
                sql.Identifier(role), sql.Literal(limit)
            )
        )
    log.info(
        "role %s: statement_timeout %s in %s, connection limit %d", role, timeout, database, limit
    )


def configure_reader_from_env(conn, *, default_password: str | None = None) -> bool:
    """Apply the reader's settings from the environment and commit (see the module
    docstring); True when a password was set. ``default_password`` is used when
    CANDLEFLOW_READER_PASSWORD is unset (the embedded server's generated one)."""
    timeout, limit = reader_limits()
    password = config.setting(PASSWORD_ENV) or default_password
    with conn:
        set_reader_limits(conn, timeout, limit)
        if password:
            set_reader_password(conn, password)
    return bool(password)


# The name make up (stack.supervisor) calls: it applies the limits too.
set_reader_password_from_env = configure_reader_from_env
