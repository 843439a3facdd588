"""Airflow connections -> plain settings for the services: the warehouse URL, provider secrets.

The one warehouse policy, used by every DAG task, the CLI and the HTTP API, in order:

1. the Airflow connection ``candleflow_warehouse``, read by ``WarehouseHook`` (a
   ``PostgresHook``, ``candleflow.airflow.hooks``), so every secrets backend works: environment
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

from candleflow import config
from candleflow.db import connection

log = logging.getLogger(__name__)

CONN_ENV = "AIRFLOW_CONN_" + config.WAREHOUSE_CONN_ID.upper()
SECRETS_BACKEND_ENV = "AIRFLOW__SECRETS__BACKEND"

# providers whose options an Airflow connection may hold (``candleflow.airflow.hooks``)
PROVIDER_CONN_TYPES = ("tradingview", "ccxt")


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


def warehouse_hook_url(conn_id: str = config.WAREHOUSE_CONN_ID) -> str | None:
    """The URL of ``WarehouseHook(conn_id)`` (a ``PostgresHook``), or None if no secrets backend
    defines the connection."""
    from airflow.sdk.exceptions import AirflowNotFoundException

    from candleflow.airflow.hooks import WarehouseHook

    try:
        return WarehouseHook(warehouse_conn_id=conn_id).url()
    except AirflowNotFoundException:
        return None


def resolve_warehouse(*, start_embedded: bool = True) -> tuple[str, str]:
    """``(url, where it came from)`` under the one policy above."""
    if connection_may_exist():
        url = warehouse_hook_url()
        if url is not None:
            return url, f"Airflow connection {config.WAREHOUSE_CONN_ID}"
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


def provider_options(
    provider_name: str, options: Mapping[str, Any] | None = None, conn_id: str | None = None
) -> dict:
    """``options`` on top of the provider's options from its Airflow connection (DAG tasks).

    The connection is ``conn_id``, else the provider hook's default (``tradingview_default``,
    ``ccxt_default``; ``candleflow.airflow.hooks``): TradingView's password becomes the
    ``token`` option and its host the ``url``; ccxt's login and password the API key and
    secret; extras are further options. An option given explicitly wins. Outside Airflow,
    for a provider without a hook, or with no such connection, the options are returned
    unchanged and the provider falls back to its environment variables
    (``CANDLEFLOW_TRADINGVIEW_TOKEN``, ...). Providers never import Airflow: this is where
    Airflow's secrets reach them. The secrets are never logged.
    """
    merged = dict(options or {})
    if provider_name not in PROVIDER_CONN_TYPES or not in_airflow():
        return merged
    from candleflow.airflow.hooks import PROVIDER_HOOKS

    hook = PROVIDER_HOOKS[provider_name]
    conn = airflow_connection(conn_id or hook.default_conn_name)
    if conn is None:
        return merged
    found = hook.options_from(conn)
    log.info(
        "%s: options %s from Airflow connection %s",
        provider_name,
        ", ".join(sorted(set(found) - set(merged))) or "none",
        conn.conn_id,
    )
    return {**found, **merged}
