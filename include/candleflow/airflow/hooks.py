"""Airflow hooks: the warehouse (a ``PostgresHook``) and the data providers' connections.

Why hooks: a data engineer configures Candleflow the way they configure any Airflow provider,
with connections of their own types (``tradingview``, ``ccxt``) created in the UI's
Connections form, the CLI or any secrets backend. Each provider hook turns its connection
into the options of an ``IDataProvider`` (``get_provider()``); providers themselves never
import Airflow. Their form fields are declared in the provider info
(``candleflow.airflow.provider_info``), the way Airflow 3.3 prefers; the hooks define no
``get_ui_field_behaviour`` of their own. Secrets (token, API secret) never reach a log line
or a repr: ``provider_options()`` is returned, never printed, and ``repr`` names only the
connection id.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.providers.postgres.hooks.postgres import PostgresHook
from airflow.sdk.bases.hook import BaseHook

from candleflow import config

log = logging.getLogger(__name__)


class WarehouseHook(PostgresHook):
    """The Candleflow warehouse: a Postgres connection, ``candleflow_warehouse`` by default.

    ``url()`` is the libpq URL every Candleflow service takes, built from the same fields
    and extras ``PostgresHook.get_conn`` connects with (extras that are libpq parameters pass,
    hook-only ones such as ``cursor`` or ``iam`` do not); the database is the connection's
    schema, else ``candleflow``.
    """

    conn_name_attr = "warehouse_conn_id"
    default_conn_name = config.WAREHOUSE_CONN_ID
    hook_name = "Candleflow warehouse (Postgres)"

    def url(self) -> str:
        from candleflow.airflow.postgres_url import postgres_url

        return postgres_url(self.connection, database=self.database)


class _ProviderHook(BaseHook):
    """A data provider's connection -> that provider's options and a configured provider."""

    provider_name = ""

    def __init__(self, conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id or self.default_conn_name

    def __repr__(self) -> str:  # the connection id only: never its secrets
        return f"{type(self).__name__}(conn_id={self.conn_id!r})"

    def get_conn(self) -> Any:
        """The configured provider (what Airflow's ``get_conn`` means for a hook)."""
        return self.get_provider()

    def provider_options(self) -> dict[str, Any]:
        """The provider's options from the connection (secrets included: never log them)."""
        return self.options_from(self.get_connection(self.conn_id))

    @classmethod
    def options_from(cls, conn: Any) -> dict[str, Any]:
        raise NotImplementedError

    def get_provider(self, **overrides: Any):
        """The configured ``IDataProvider`` (a context manager: ``with hook.get_provider()``)."""
        from candleflow.providers.registry import get_provider

        return get_provider(self.provider_name, **{**self.provider_options(), **overrides})


def _extras(conn: Any, *skip: str) -> dict[str, Any]:
    """Provider options kept in the connection's extras, the form's own fields left out and
    empty ones dropped (a form saves an empty field as null). A key the older forms wrote as
    ``extra__<type>__<name>`` is read as ``<name>``."""
    prefix = f"extra__{conn.conn_type}__"
    extras = {k.removeprefix(prefix): v for k, v in conn.extra_dejson.items()}
    return {k: v for k, v in extras.items() if k not in skip and v not in (None, "")}


class TradingViewHook(_ProviderHook):
    """Connection type ``tradingview``: the auth token in the password, the websocket
    endpoint in the host (empty: TradingView itself), other provider options in the extras
    (``timeout``, ``max_bars``, ``paging``, ...)."""

    conn_name_attr = "tradingview_conn_id"
    default_conn_name = "tradingview_default"
    conn_type = "tradingview"
    hook_name = "TradingView (Candleflow)"
    provider_name = "tradingview"

    @classmethod
    def options_from(cls, conn: Any) -> dict[str, Any]:
        options = _extras(conn)
        if conn.host:
            options["url"] = conn.host
        if conn.password:
            options["token"] = conn.password
        return options


class CcxtHook(_ProviderHook):
    """Connection type ``ccxt``: the API key in the login, the secret in the password (both
    optional: public candles need none), the exchange the key belongs to and the provider's
    options (``market_type``, ``urls``, ``config``, ...) in the extras."""

    conn_name_attr = "ccxt_conn_id"
    default_conn_name = "ccxt_default"
    conn_type = "ccxt"
    hook_name = "ccxt exchange (Candleflow)"
    provider_name = "ccxt"

    @classmethod
    def options_from(cls, conn: Any) -> dict[str, Any]:
        options = _extras(conn, "exchange", "passphrase")
        if conn.login:
            options["api_key"] = conn.login
        if conn.password:
            options["secret"] = conn.password
        if conn.extra_dejson.get("passphrase"):
            options["password"] = conn.extra_dejson["passphrase"]
        if conn.extra_dejson.get("exchange"):
            options.setdefault("search_exchanges", [str(conn.extra_dejson["exchange"]).upper()])
        return options


PROVIDER_HOOKS: dict[str, type[_ProviderHook]] = {
    "tradingview": TradingViewHook,
    "ccxt": CcxtHook,
}
