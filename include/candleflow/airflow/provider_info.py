"""What the wheel tells Airflow about itself: the ``apache_airflow_provider`` entry point.

Why declarative: Airflow 3.3 reads connection forms (``conn-fields``, ``ui-field-behaviour``)
from this dict without importing the hooks (and warns about hooks that still define
``get_ui_field_behaviour``), so ``airflow providers list``, the Connections form and the
api-server learn about Candleflow at the cost of importing this small module. The plugin
(timetables, API, chart page) is its own entry point (``airflow.plugins``,
``candleflow.airflow.plugin``); it is not repeated here, or Airflow would load it twice.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

HOOKS = "candleflow.airflow.hooks"
OPERATORS = "candleflow.airflow.operators"


def _version() -> str:
    try:
        return version("candleflow")
    except PackageNotFoundError:  # a source checkout that was never installed
        return "0.0.0"


def _text(label: str, description: str, **schema: object) -> dict:
    schema = {"type": ["string", "null"], **schema}
    return {"label": label, "description": description, "schema": schema}


TRADINGVIEW = {
    "hook-class-name": f"{HOOKS}.TradingViewHook",
    "hook-name": "TradingView (Candleflow)",
    "connection-type": "tradingview",
    "conn-fields": {
        "max_bars": {
            "label": "Plan's bar limit",
            "description": "Bars of history the plan serves per series (empty: the default)",
            "schema": {"type": ["integer", "null"]},
        },
        "timeout": {
            "label": "Timeout (seconds)",
            "description": "Longest wait for data",
            "schema": {"type": ["number", "null"], "default": 30},
        },
    },
    "ui-field-behaviour": {
        "hidden-fields": ["login", "schema", "port"],
        "relabeling": {"host": "Endpoint", "password": "Auth token"},
        "placeholders": {
            "host": "wss://data.tradingview.com/socket.io/websocket (empty: TradingView)",
            "password": "TradingView auth token (empty: anonymous access)",
        },
    },
}

CCXT = {
    "hook-class-name": f"{HOOKS}.CcxtHook",
    "hook-name": "ccxt exchange (Candleflow)",
    "connection-type": "ccxt",
    "conn-fields": {
        "exchange": _text("Exchange", "ccxt exchange id the key belongs to, e.g. binance"),
        "market_type": _text("Market type", "spot, future, swap, ...", default="spot"),
        "passphrase": _text("Passphrase", "Only for exchanges that ask for one", format="password"),
    },
    "ui-field-behaviour": {
        "hidden-fields": ["host", "schema", "port"],
        "relabeling": {"login": "API key", "password": "API secret"},
        "placeholders": {"login": "empty: public candles only", "password": "API secret"},
    },
}


def get_provider_info() -> dict:
    """The provider info Airflow's ``ProvidersManager`` reads (schema:
    ``airflow/provider_info.schema.json``)."""
    return {
        "package-name": "candleflow",
        "name": "Candleflow",
        "description": "Market-data pipeline: OHLCV bars and ticks into PostgreSQL "
        "(TradingView, ccxt exchanges, vendor files).",
        "versions": [_version()],
        "integrations": [
            {"integration-name": "TradingView", "tags": ["service"]},
            {"integration-name": "ccxt", "tags": ["service"]},
            {"integration-name": "Candleflow warehouse", "tags": ["software"]},
        ],
        "hooks": [
            {"integration-name": name, "python-modules": [HOOKS]}
            for name in ("TradingView", "ccxt", "Candleflow warehouse")
        ],
        "operators": [
            {"integration-name": name, "python-modules": [OPERATORS]}
            for name in ("TradingView", "ccxt")
        ],
        "connection-types": [TRADINGVIEW, CCXT],
        "extra-links": [f"{OPERATORS}.CandlesLink", "candleflow.airflow.links.DataDocsLink"],
    }
