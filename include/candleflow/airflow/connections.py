"""Airflow connections -> plain settings for the services: the warehouse URL, provider secrets.

The one warehouse policy, used by every DAG task, the CLI and the HTTP API, in order:

1. the Airflow connection ``candleflow_warehouse``, looked up through the Airflow SDK's
   connection API (what ``PostgresHook`` uses), so every secrets backend works: environment
   variables, the metadata database, Vault, AWS Secrets Manager, ... It is asked for inside
   Airflow (tasks, the api-server that serves the HTTP API) and, outside it (the CLI), when
   something could define it there: ``AIRFLOW_CONN_CANDLEFLOW_WAREHOUSE`` or a secrets
   backend (``AIRFLOW__SECRETS__BACKEND``, or ``[secrets] backend`` in
   ``$AIRFLOW_HOME/airflow.cfg``); outside Airflow its metadata database is never read, so
   nothing else could, and importing Airflow (about 1.5 s) is paid only then;
2. ``CANDLEFLOW_DATABASE_URL``;
3. the embedded server.

Steps 2 and 3 are ``candleflow.db.connection.warehouse_url``, which never imports Airflow
(library code such as a notebook's ``candleflow.query`` call uses it). Every DAG task calls
``warehouse_url()`` here once, at run time, and passes the URL down to the service it calls;
nothing is looked up at parse time.
"""

from __future__ import annotations

import configparser
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
CONN_ENV = "AIRFLOW_CONN_" + config.WAREHOUSE_CONN_ID.upper()
SECRETS_BACKEND_ENV = "AIRFLOW__SECRETS__BACKEND"

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
    return config.setting("_AIRFLOW_PROCESS_CONTEXT") in ("server", "client")


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


def connection_may_exist() -> bool:
    """Whether the ``candleflow_warehouse`` connection could be defined for this process (see
    the module docstring): inside Airflow, or where its variable or a secrets backend is set."""
    if in_airflow() or config.setting(CONN_ENV) or config.setting(SECRETS_BACKEND_ENV):
        return True
    cfg = configparser.ConfigParser(interpolation=None)
    home = config.setting("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
    try:
        cfg.read(os.path.join(home, "airflow.cfg"), encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError):
        return False
    return bool(cfg.get("secrets", "backend", fallback="").strip())


def resolve_warehouse(*, start_embedded: bool = True) -> tuple[str, str]:
    """``(url, where it came from)`` under the one policy above."""
    if connection_may_exist():
        conn = airflow_connection(config.WAREHOUSE_CONN_ID)
        if conn is not None:
            return postgres_url(conn), f"Airflow connection {config.WAREHOUSE_CONN_ID}"
        log.info("no Airflow connection %s defined", config.WAREHOUSE_CONN_ID)
    url = connection.warehouse_url(start_embedded=start_embedded)
    if config.configured_database_url():
        return url, config.DATABASE_URL_ENV
    return url, "embedded server"


def warehouse_url(*, start_embedded: bool = True) -> str:
    """The warehouse URL under the one policy above; call it once per task, pass it down."""
    url, source = resolve_warehouse(start_embedded=start_embedded)
    log.info("warehouse: %s (%s)", source, connection.describe(url))
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
