"""Connections to the warehouse: which URL, how to connect, and one transaction per command.

Outside Airflow the URL is ``CANDLEFLOW_DATABASE_URL`` when set, else the embedded server
(started on demand). Inside Airflow, ``candleflow.airflow.connections.warehouse_url`` first
looks up the ``candleflow_warehouse`` connection, then falls back to this module: that is the
one policy, and this half of it never imports Airflow. Errors name the host, never the password.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from urllib.parse import urlsplit

from candleflow import config
from candleflow.errors import ConfigError, DatabaseUnavailable

log = logging.getLogger(__name__)


def warehouse_url(*, start_embedded: bool = True) -> str:
    """``CANDLEFLOW_DATABASE_URL``, else the embedded server's warehouse (started on demand).

    Code running in an Airflow task gets its URL from ``candleflow.airflow.connections``
    instead, which honours the ``candleflow_warehouse`` connection first.
    """
    configured = config.configured_database_url()
    if configured:
        return configured
    from candleflow.db import embedded

    if start_embedded:
        embedded.start()
    return embedded.url(config.WAREHOUSE_DB)


def describe(url: str) -> str:
    """``host:port/dbname`` of any libpq DSN, safe to print: never a user or a password.

    Parsed by libpq's own parser (``PQconninfoParse``, through psycopg2's ``parse_dsn``), so
    a ``postgresql://`` URL, a ``?password=`` parameter and a ``host=... password=...``
    keyword string are all read the way libpq reads them, and only the three safe fields
    are printed. A DSN libpq cannot parse is not echoed (its text may hold the password).
    """
    from psycopg2 import Error
    from psycopg2.extensions import parse_dsn

    try:
        parts = parse_dsn(url)
    except Error:
        return "<a DSN libpq cannot parse>"
    host = parts.get("host") or parts.get("hostaddr") or "localhost"
    return f"{host}:{parts.get('port') or '5432'}/{parts.get('dbname') or parts.get('user') or ''}"


def _scrub(message: str, url: str) -> str:
    """``message`` without the URL's password, should libpq have quoted it."""
    from psycopg2 import Error
    from psycopg2.extensions import parse_dsn

    try:
        password = parse_dsn(url).get("password")
    except Error:
        password = None
    return message.replace(password, "***") if password else message


def unavailable(url: str, exc: Exception) -> DatabaseUnavailable:
    """The error a failed connect becomes: where (never the password) and libpq's first line,
    scrubbed of the password too; every door that connects says it the same way."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return DatabaseUnavailable(
        f"cannot connect to PostgreSQL at {describe(url)}: {_scrub(reason, url)}"
    )


def redact(url: str) -> str:
    """The URL with its password replaced by ``***``."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def connect(
    url: str | None = None, *, autocommit: bool = False, application_name: str = "candleflow"
):
    """A psycopg2 connection; an unreachable server raises ``DatabaseUnavailable``.

    A URL libpq cannot parse raises ``ConfigError`` without libpq's message, which quotes
    the offending fragment (a password with a bad percent-escape, say) back verbatim.
    """
    import psycopg2

    url = url or warehouse_url()
    try:
        conn = psycopg2.connect(url, application_name=application_name, connect_timeout=10)
    except psycopg2.ProgrammingError:  # "invalid dsn: ...": raised before any connection
        raise ConfigError(
            "the warehouse URL (CANDLEFLOW_DATABASE_URL or the candleflow_warehouse "
            "connection) is not a valid PostgreSQL URL or DSN; expected "
            "postgresql://USER:PASSWORD@HOST:PORT/DBNAME (not shown: it may hold a password)"
        ) from None
    except psycopg2.OperationalError as exc:
        raise unavailable(url, exc) from None
    conn.autocommit = autocommit
    return conn


@contextlib.contextmanager
def transaction(url: str | None = None) -> Iterator:
    """A connection whose work commits on success and rolls back on any error."""
    conn = connect(url)
    try:
        with conn:
            yield conn
    finally:
        conn.close()


def admin_url(url: str, database: str = "postgres") -> str:
    """The same server, another database (to create or drop databases)."""
    parts = urlsplit(url)
    return parts._replace(path=f"/{database}").geturl()


def ensure_database(url: str) -> bool:
    """Create the database ``url`` names if it does not exist; True when created."""
    from psycopg2 import sql

    name = urlsplit(url).path.lstrip("/")
    conn = connect(admin_url(url), autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone():
                return False
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            log.info("created database %s", name)
            return True
    finally:
        conn.close()
