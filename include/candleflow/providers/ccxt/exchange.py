"""Which ccxt exchange serves a symbol, how it is configured, and the one instance per process.

Why one instance per process: ccxt's rate limiter and its market cache belong to the exchange
object, so every provider (each ``sync`` call builds one) shares the instance configured the
same way, and calls on it are serialised by a lock (its HTTP session is not thread-safe and
the throttle assumes one caller). The cache is keyed by process id too: an Airflow task forked
from a parent never reuses the parent's sockets.

Configuration, lowest to highest: candleflow's defaults (``enableRateLimit``; Binance loads its
spot markets only), ``CANDLEFLOW_CCXT_URLS`` (JSON: exchange id -> ccxt ``urls`` override),
then the provider's options. Credentials are never logged: ccxt's wire log goes through a
logger whose filter masks every registered secret.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

from candleflow import config
from candleflow.errors import ConfigError

log = logging.getLogger(__name__)
WIRE_LOG = "candleflow.providers.ccxt.http"

URLS_ENV = "CANDLEFLOW_CCXT_URLS"
CREDENTIAL_KEYS = ("apiKey", "secret", "password", "uid", "privateKey", "walletAddress", "token")
CREDENTIAL_ENV = {"apiKey": "API_KEY", "secret": "SECRET", "password": "PASSWORD"}
DEFAULTS: dict[str, Any] = {"enableRateLimit": True}
# Exchanges that answer ``since=0`` with a market's first candle (its listing), so the
# provider can tell "before the listing" from "no trades" (checked for Binance spot).
DEEP_HISTORY = frozenset({"binance", "binanceus"})
EXCHANGE_DEFAULTS: dict[str, dict[str, Any]] = {
    # a watchlist's BINANCE:XRPETH is a spot market: exchangeInfo alone, not also the futures
    # endpoints, and no private currency list (it needs keys and costs a request)
    "binance": {
        "options": {
            "fetchMarkets": {"types": ["spot"]},
            "fetchCurrencies": False,
            "fetchMargins": False,
        }
    },
}


def exchange_id(prefix: str, aliases: Mapping[str, str] | None = None) -> str:
    """``BINANCE`` -> ``binance``; ``aliases`` maps other prefixes (``{"BINANCE2": "binance"}``)."""
    import ccxt

    wanted = (aliases or {}).get(prefix) or prefix.lower()
    if wanted not in ccxt.exchanges:
        raise ConfigError(
            f"no ccxt exchange for symbol prefix {prefix!r} (looked for {wanted!r}); expected a "
            "ccxt exchange id such as binance, kraken, coinbase, bybit, okx, or an entry in the "
            "provider option exchanges={PREFIX: ccxt_id}"
        )
    return wanted


def env_urls() -> dict[str, dict[str, Any]]:
    """``CANDLEFLOW_CCXT_URLS`` parsed: exchange id -> ccxt ``urls`` override."""
    text = config.setting(URLS_ENV)
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{URLS_ENV} is not JSON ({exc}); expected {_URLS_EXAMPLE}") from None
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise ConfigError(f"{URLS_ENV} must map exchange ids to urls objects, e.g. {_URLS_EXAMPLE}")
    return value


_URLS_EXAMPLE = '{"binance": {"api": {"public": "http://127.0.0.1:8901/api/v3"}}}'


def urls_for(exchange: str, urls: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``urls`` option for one exchange: a ccxt ``urls`` dict, or exchange id -> that."""
    import ccxt

    if not urls:
        return {}
    if all(key in ccxt.exchanges for key in urls):
        return dict(urls.get(exchange) or {})
    return dict(urls)


def deep_merge(*layers: Mapping[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
                merged[key] = deep_merge(merged[key], value)
            else:
                merged[key] = deep_merge(value) if isinstance(value, Mapping) else value
    return merged


def credentials_from_env(exchange: str) -> dict[str, str]:
    """``CANDLEFLOW_CCXT_BINANCE_API_KEY`` / ``_SECRET`` / ``_PASSWORD`` for the CLI."""
    found = {}
    for key, suffix in CREDENTIAL_ENV.items():
        value = config.setting(f"CANDLEFLOW_CCXT_{exchange.upper()}_{suffix}")
        if value:
            found[key] = value
    return found


@dataclasses.dataclass
class Handle:
    """A shared exchange instance, the lock that serialises calls on it, and market freshness."""

    exchange: Any
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    markets_loaded_at: float | None = None
    first_candles: dict[tuple[str, str], dt.datetime | None] = dataclasses.field(
        default_factory=dict
    )  # (market id, timeframe) -> open time of the exchange's oldest candle

    @property
    def id(self) -> str:
        return self.exchange.id

    def markets_stale(self, ttl_s: float) -> bool:
        loaded = self.markets_loaded_at
        return loaded is None or time.monotonic() - loaded > ttl_s


_HANDLES: dict[tuple[int, str, str], Handle] = {}
_HANDLES_LOCK = threading.Lock()


def shared_exchange(exchange: str, config: Mapping[str, Any]) -> Handle:
    """The process's instance of ccxt exchange ``exchange`` configured with ``config``."""
    import ccxt

    key = (os.getpid(), exchange, _fingerprint(config))
    with _HANDLES_LOCK:
        handle = _HANDLES.get(key)
        if handle is None:
            instance = getattr(ccxt, exchange)(dict(config))
            instance.logger = logging.getLogger(WIRE_LOG)
            _REDACT.add(*(str(config[k]) for k in CREDENTIAL_KEYS if config.get(k)))
            handle = _HANDLES[key] = Handle(instance)
            log.info(
                "ccxt %s: new exchange instance (rate limit %s, %d ms)",
                exchange,
                "on" if instance.enableRateLimit else "off",
                instance.rateLimit,
            )
    return handle


def forget_instances() -> None:
    """Drop the shared instances (tests start each server afresh; the next call rebuilds)."""
    with _HANDLES_LOCK:
        _HANDLES.clear()


def _fingerprint(config: Mapping[str, Any]) -> str:
    """A stable key for ``config``; secrets enter only as a hash."""
    text = json.dumps(config, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


class _Redactor(logging.Filter):
    """Masks registered secrets in ccxt's wire log (request headers carry API keys)."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()

    def add(self, *secrets: str) -> None:
        self._secrets.update(s for s in secrets if len(s) >= 4)

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets:
            text = record.getMessage()
            for secret in self._secrets:
                text = text.replace(secret, "***")
            record.msg, record.args = text, None
        return True


_REDACT = _Redactor()
logging.getLogger(WIRE_LOG).addFilter(_REDACT)
