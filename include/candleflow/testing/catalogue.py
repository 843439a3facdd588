"""What the replay server says about a symbol: ``symbol_resolved`` info and quote fields.

The shapes follow real captures of ``symbol_resolved`` and ``qsd`` messages. ``NYSE:SCGLY``
carries the non-ASCII, astral-plane description ``"Société Générale 😀"`` so that clients are
tested on UTF-16 envelope lengths.
"""

from __future__ import annotations

import json
from typing import Any

from candleflow.testing.synthetic import SymbolSpec, spec

ASTRAL_SYMBOL = "NYSE:SCGLY"
ASTRAL_DESCRIPTION = "Société Générale 😀"

_DESCRIPTIONS = {
    "BINANCE:BTCUSDT": "Bitcoin / TetherUS",
    "BINANCE:ETHUSDT": "Ethereum / TetherUS",
    "NASDAQ:AAPL": "Apple Inc.",
    "NASDAQ:MSFT": "Microsoft Corporation",
    "SP:SPX": "S&P 500",
    "TVC:DXY": "U.S. Dollar Index",
    ASTRAL_SYMBOL: ASTRAL_DESCRIPTION,
}


def symbol_from_key(key: str) -> str:
    """The ``EXCH:TICKER`` inside a plain key or a ``=``-prefixed JSON symbol object."""
    if key.startswith("="):
        try:
            obj = json.loads(key[1:])
        except ValueError:
            return key
        return str(obj.get("symbol", "")) if isinstance(obj, dict) else key
    return key


def description(sym: SymbolSpec) -> str:
    return _DESCRIPTIONS.get(sym.symbol, f"{sym.symbol.partition(':')[2]} (synthetic)")


def _kind(sym: SymbolSpec) -> str:
    if sym.calendar == "24x7":
        return "spot"
    return "stock" if sym.has_volume else "index"


def symbol_info(symbol: str) -> dict[str, Any] | None:
    """The ``symbol_resolved`` info object, or ``None`` for an unknown symbol."""
    sym = spec(symbol)
    if sym is None:
        return None
    exchange, _, ticker = symbol.partition(":")
    crypto = sym.calendar == "24x7"
    session = "24x7" if crypto else "0930-1600"
    return {
        "name": ticker,
        "full_name": symbol,
        "pro_name": symbol,
        "base_name": [symbol],
        "description": description(sym),
        "local_description": description(sym),
        "short_description": description(sym),
        "exchange": exchange,
        "listed_exchange": exchange,
        "type": _kind(sym),
        "typespecs": ["crypto"] if crypto else ["common"] if sym.has_volume else ["main"],
        "currency_code": "USDT" if crypto else "USD",
        "pricescale": sym.pricescale,
        "minmov": 1,
        "minmove2": 0,
        "pointvalue": 1.0,
        "fractional": False,
        "session": session,
        "session_display": session,
        "subsessions": [
            {
                "description": "Regular Trading Hours",
                "id": "regular",
                "private": False,
                "session": session,
                "session-display": session,
            }
        ],
        "timezone": "Etc/UTC" if crypto else "America/New_York",
        "has_intraday": True,
        "is_tradable": sym.has_volume,
        "visible_plots_set": "ohlcv" if sym.has_volume else "ohlc",
        "volume_type": "base" if crypto else "shares",
        "provider_id": "candleflow-replay",
    }


def static_quote_fields(sym: SymbolSpec) -> dict[str, Any]:
    """The quote fields that never change during a session."""
    exchange, _, ticker = sym.symbol.partition(":")
    return {
        "description": description(sym),
        "local_description": description(sym),
        "short_name": ticker,
        "pro_name": sym.symbol,
        "original_name": sym.symbol,
        "exchange": exchange,
        "listed_exchange": exchange,
        "type": _kind(sym),
        "currency_code": "USDT" if sym.calendar == "24x7" else "USD",
        "pricescale": sym.pricescale,
        "minmov": 1,
        "minmove2": 0,
        "fractional": False,
        "update_mode": "streaming",
        "current_session": "market",
    }
