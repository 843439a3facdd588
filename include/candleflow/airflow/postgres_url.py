"""A libpq URL from an Airflow Postgres connection, as ``PostgresHook`` would connect.

Its own module because both the warehouse hook and the connection resolver use it, and the
resolver already asks the hooks for provider connections (one direction only, no cycle).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from candleflow import config
from candleflow.errors import ConfigError

POSTGRES_CONN_TYPES = ("postgres", "postgresql")


def postgres_url(conn: Any, *, database: str | None = None) -> str:
    """A libpq URL for a Postgres connection, built the way ``PostgresHook.get_conn`` does.

    ``schema`` is the database (default ``candleflow``); a socket folder as host is
    percent-encoded; extras that are libpq parameters (``sslmode``, ``options``, ...) become
    query parameters, hook-only extras (``cursor``, ``iam``, ...) are left out.
    """
    if conn.conn_type not in POSTGRES_CONN_TYPES:
        raise ConfigError(
            f"connection {conn.conn_id!r} has type {conn.conn_type!r}; "
            f"expected one of {', '.join(POSTGRES_CONN_TYPES)}"
        )
    userinfo = quote(conn.login or "", safe="")
    if conn.password:
        userinfo += ":" + quote(conn.password, safe="")
    netloc = (userinfo + "@" if userinfo else "") + quote(conn.host or "", safe="")
    if conn.port:
        netloc += f":{int(conn.port)}"
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    ignored = PostgresHook.ignored_extra_options
    extras = {k: v for k, v in conn.extra_dejson.items() if k not in ignored}
    query = urlencode({k: str(v) for k, v in extras.items() if _is_libpq_keyword(k)})
    database = quote(database or conn.schema or config.WAREHOUSE_DB, safe="")
    return f"postgresql://{netloc}/{database}" + (f"?{query}" if query else "")


def _is_libpq_keyword(key: str) -> bool:
    """Whether libpq itself knows ``key`` (asked through its own conninfo parser)."""
    import psycopg2
    from psycopg2.extensions import parse_dsn

    try:
        parse_dsn(f"{key}=x")
    except psycopg2.ProgrammingError:
        return False
    return True
