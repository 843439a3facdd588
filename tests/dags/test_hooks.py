"""The provider's hooks and its provider info: what a connection in the Connections form (or
any secrets backend) becomes, and what Airflow's ``ProvidersManager`` reads from the wheel.

The connections here come from ``AIRFLOW_CONN_*`` variables, the secrets backend every
Airflow process reads first; ``test_provider_wheel.py`` makes them with
``airflow connections add`` in a real install.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import jsonschema
import pytest
from psycopg2.extensions import parse_dsn

from candleflow.airflow import connections
from candleflow.airflow.hooks import CcxtHook, TradingViewHook, WarehouseHook
from candleflow.airflow.provider_info import get_provider_info
from candleflow.providers.ccxt import CcxtProvider
from candleflow.providers.tradingview import TradingViewProvider

TOKEN = "tv-secret-token-1234"
TV_CONN = {
    "conn_type": "tradingview",
    "host": "ws://127.0.0.1:9/socket.io/websocket",
    "password": TOKEN,
    "extra": {"timeout": 5, "max_bars": 5000},
}


def test_a_tradingview_connection_is_a_configured_provider_and_no_repr_shows_the_token(
    monkeypatch,
):
    monkeypatch.setenv("AIRFLOW_CONN_TV_TEST", json.dumps(TV_CONN))
    hook = TradingViewHook("tv_test")
    assert hook.provider_options() == {
        "url": TV_CONN["host"],
        "token": TOKEN,
        "timeout": 5,
        "max_bars": 5000,
    }
    provider = hook.get_provider()
    assert isinstance(provider, TradingViewProvider)
    assert provider.link.auth_token() == TOKEN
    assert TOKEN not in repr(hook) and TOKEN not in repr(provider)


def test_a_ccxt_connection_holds_the_key_the_secret_and_the_exchange(monkeypatch):
    conn = {
        "conn_type": "ccxt",
        "login": "api-key",
        "password": "api-secret",
        "extra": {"exchange": "binance", "market_type": "spot", "passphrase": ""},
    }
    monkeypatch.setenv("AIRFLOW_CONN_CCXT_DEFAULT", json.dumps(conn))
    hook = CcxtHook()
    assert hook.provider_options() == {
        "api_key": "api-key",
        "secret": "api-secret",
        "market_type": "spot",
        "search_exchanges": ["BINANCE"],
    }
    provider = hook.get_provider()
    assert isinstance(provider, CcxtProvider)
    assert "api-secret" not in repr(provider) and "api-secret" not in repr(hook)


def test_inside_airflow_a_task_gets_the_connection_options_and_explicit_ones_win(
    monkeypatch, caplog
):
    monkeypatch.setenv("_AIRFLOW_PROCESS_CONTEXT", "client")
    monkeypatch.setenv("AIRFLOW_CONN_TRADINGVIEW_DEFAULT", json.dumps(TV_CONN))
    with caplog.at_level(logging.INFO, logger="candleflow.airflow.connections"):
        got = connections.provider_options("tradingview", {"timeout": 9})
    assert got == {"url": TV_CONN["host"], "token": TOKEN, "timeout": 9, "max_bars": 5000}
    assert "tradingview_default" in caplog.text and TOKEN not in caplog.text
    monkeypatch.setenv("AIRFLOW_CONN_MY_TV", json.dumps({"conn_type": "tradingview"}))
    assert connections.provider_options("tradingview", {}, conn_id="my_tv") == {}


def test_the_warehouse_hook_is_a_postgres_hook_giving_the_libpq_url(monkeypatch):
    conn = {
        "conn_type": "postgres",
        "host": "/tmp/cf sockets",
        "login": "loader",
        "password": "p@ss:w/rd",
        "schema": "warehouse",
        "extra": {"sslmode": "disable", "cursor": "dictcursor", "iam": False},
    }
    monkeypatch.setenv("AIRFLOW_CONN_CANDLEFLOW_WAREHOUSE", json.dumps(conn))
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    hook = WarehouseHook()
    assert isinstance(hook, PostgresHook)
    assert parse_dsn(hook.url()) == {
        "host": "/tmp/cf sockets",
        "user": "loader",
        "password": "p@ss:w/rd",
        "dbname": "warehouse",
        "sslmode": "disable",
    }
    assert parse_dsn(WarehouseHook(database="other").url())["dbname"] == "other"
    url, source = connections.resolve_warehouse()
    assert url == hook.url() and source == "Airflow connection candleflow_warehouse"


def test_the_provider_info_is_valid_and_airflow_reads_its_connection_forms():
    import airflow
    from airflow.providers_manager import ProvidersManager

    schema = Path(airflow.__file__).with_name("provider_info.schema.json")
    jsonschema.validate(get_provider_info(), json.loads(schema.read_text()))
    manager = ProvidersManager()
    manager.initialize_providers_hooks()
    assert manager.providers["candleflow"].data["package-name"] == "candleflow"
    tv = manager.field_behaviours["tradingview"]
    assert tv["relabeling"] == {"host": "Endpoint", "password": "Auth token"}
    assert "login" in tv["hidden_fields"]
    widgets = manager.connection_form_widgets
    assert widgets["extra__tradingview__max_bars"].field["schema"]["title"] == "Plan's bar limit"
    assert widgets["extra__ccxt__passphrase"].is_sensitive
    assert manager.field_behaviours["ccxt"]["relabeling"]["login"] == "API key"


@pytest.mark.parametrize("hook", [TradingViewHook, CcxtHook])
def test_the_hooks_leave_the_form_to_the_provider_info(hook):
    """Airflow 3.3 warns about hooks that still define the Python form methods."""
    assert "get_ui_field_behaviour" not in hook.__dict__
    assert "get_connection_form_widgets" not in hook.__dict__
