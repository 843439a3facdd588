"""Airflow connections -> plain settings for the services: the warehouse URL, provider secrets.

The one warehouse policy, in order:

1. inside Airflow, the connection ``candleflow_warehouse``, looked up through the Airflow SDK's
   connection API (what ``PostgresHook`` uses), so every secrets backend works: environment
   variables, the metadata database, Vault, AWS Secrets Manager, ...;
2. ``CANDLEFLOW_DATABASE_URL``;
3. the embedded server.

Steps 2 and 3 are ``candleflow.db.connection.warehouse_url``, which never imports Airflow (the
CLI and the API use it). Every DAG task calls ``warehouse_url()`` here once, at run time, and
passes the URL down to the service it calls; nothing is looked up at parse time.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

from candleflow import config
from candleflow.db import connection
from candleflow.errors import ConfigError

log = logging.getLogger(__name__)

POSTGRES_CONN_TYPES = ("postgres", "postgresql")

# provider name -> (Airflow connection id, the option its password becomes)
PROVIDER_SECRETS: dict[str, tuple[str, str]] = {"tradingview": ("tradingview_default", "token")}


def in_airflow() -> bool:
    """True inside an Airflow task (or an Airflow server process).

    A task runner has ``SUPERVISOR_COMMS`` set (also under ``airflow dags test``); Airflow's
    servers mark themselves with ``_AIRFLOW_PROCESS_CONTEXT``. Elsewhere (the CLI, a notebook)
    importing Airflow would cost seconds for a lookup that can only find environment variables.
    """
    runner = sys.modules.get("airflow.sdk.execution_time.task_runner")
    if getattr(runner, "SUPERVISOR_COMMS", None) is not None:
        return True
    return os.environ.get("_AIRFLOW_PROCESS_CONTEXT") in ("server", "client")


def airflow_connection(conn_id: str) -> Any | None:
    """The Airflow connection ``conn_id`` from any secrets backend, or None if none defines it."""
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return Connection.get(conn_id)
    except AirflowNotFoundException:
        return None


def postgres_url(conn: Any) -> str:
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
    query = urlencode({k: str(v) for k, v in conn.extra_dejson.items() if _is_libpq_keyword(k)})
    database = quote(conn.schema or config.WAREHOUSE_DB, safe="")
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


def warehouse_url() -> str:
    """The warehouse URL under the one policy above; call it once per task, pass it down."""
    if in_airflow():
        conn = airflow_connection(config.WAREHOUSE_CONN_ID)
        if conn is not None:
            url = postgres_url(conn)
            log.info(
                "warehouse: Airflow connection %s (%s)",
                config.WAREHOUSE_CONN_ID,
                connection.describe(url),
            )
            return url
        log.info("no Airflow connection %s defined", config.WAREHOUSE_CONN_ID)
    url = connection.warehouse_url()
    log.info(
        "warehouse: %s (%s)",
        config.DATABASE_URL_ENV if config.configured_database_url() else "embedded server",
        connection.describe(url),
    )
    return url


def provider_options(provider_name: str, options: Mapping[str, Any] | None = None) -> dict:
    """``options`` plus the provider's secret from its Airflow connection (for DAG tasks).

    TradingView: the password of connection ``tradingview_default`` becomes the ``token``
    option. An option given explicitly wins; outside Airflow, or with no such connection (or
    no password), the options are returned unchanged and the provider falls back to its
    environment variable (``CANDLEFLOW_TRADINGVIEW_TOKEN``). Providers never import Airflow:
    this is where Airflow's secrets reach them. The secret is never logged.
    """
    merged = dict(options or {})
    conn_id, option = PROVIDER_SECRETS.get(provider_name, (None, None))
    if conn_id is None or merged.get(option) or not in_airflow():
        return merged
    conn = airflow_connection(conn_id)
    if conn is not None and conn.password:
        merged[option] = conn.password
        log.info("%s: %s from Airflow connection %s", provider_name, option, conn_id)
    return merged
