"""What the replay server says about a symbol: ``symbol_resolved`` info and quote fields.

The shapes follow real captures of TradingView's ``symbol_resolved`` and quote messages;
descriptions come from the default catalogue (``universe``). ``NYSE:SCGLY`` carries the
non-ASCII, astral-plane description ``"Société Générale 😀"`` so that clients are tested on
UTF-16 envelope lengths.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from candleflow.testing.synthetic import SymbolSpec
from candleflow.testing.universe import SYMBOLS

ASTRAL_SYMBOL = "NYSE:SCGLY"
ASTRAL_DESCRIPTION = SYMBOLS[ASTRAL_SYMBOL]


def symbol_from_key(key: str) -> str:
    """The ``EXCH:TICKER`` inside a plain key or a ``=``-prefixed JSON symbol object."""
    if key.startswith("="):
        try:
            obj = json.loads(key[1:])
        except ValueError:
            return key
        return str(obj.get("symbol", "")) if isinstance(obj, dict) else key
    return key


def adjustment_from_key(key: str) -> str:
    """The descriptor's ``adjustment`` (``splits`` when absent or unknown, TradingView's
    default)."""
    if key.startswith("="):
        try:
            obj = json.loads(key[1:])
        except ValueError:
            return "splits"
        value = obj.get("adjustment") if isinstance(obj, dict) else None
        if value in ("none", "splits", "dividends"):
            return value
    return "splits"


def session_from_key(key: str) -> str:
    """The descriptor's ``session``: ``extended`` when it asks for it, else ``regular``."""
    if key.startswith("="):
        try:
            obj = json.loads(key[1:])
        except ValueError:
            return "regular"
        if isinstance(obj, dict) and obj.get("session") == "extended":
            return "extended"
    return "regular"


def in_session(sym: SymbolSpec, session: str) -> SymbolSpec:
    """The series a descriptor's ``session`` gets: a US equity's extended-hours series
    (``XNYS_EXT``: pre- and post-market bars) when asked for; anything else (crypto trades
    24x7, an index has no extended hours) is served its one series."""
    if session == "extended" and sym.calendar == "XNYS" and sym.has_volume:
        return replace(sym, calendar="XNYS_EXT")
    return sym


def description(sym: SymbolSpec) -> str:
    return SYMBOLS.get(sym.symbol, f"{sym.symbol.partition(':')[2]} (synthetic)")


def _kind(sym: SymbolSpec) -> str:
    if sym.calendar == "24x7":
        return "spot"
    return "stock" if sym.has_volume else "index"


def symbol_info(sym: SymbolSpec, *, adjustments: bool = True) -> dict[str, Any]:
    """The ``symbol_resolved`` info object of a symbol the server knows.

    Equities have adjustments (``has_adjustment``; ``allowed_adjustment`` ``any``) unless
    ``adjustments`` is off; crypto pairs and indices have none (``"none"``, as in the
    captures). The synthetic data itself has no corporate actions: every adjustment serves
    the same bars (the ``lean-aapl`` scenario serves real ones).
    """
    symbol = sym.symbol
    exchange, _, ticker = symbol.partition(":")
    crypto = sym.calendar == "24x7"
    adjusted = adjustments and sym.has_volume and not crypto
    session = {"24x7": "24x7", "XNYS_EXT": "0400-2000"}.get(sym.calendar, "0930-1600")
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
        "subsessions": _subsessions(sym, session),
        "timezone": "Etc/UTC" if crypto else "America/New_York",
        "has_intraday": True,
        "is_tradable": sym.has_volume,
        "visible_plots_set": "ohlcv" if sym.has_volume else "ohlc",
        "volume_type": "base" if crypto else "shares",
        "provider_id": "candleflow-replay",
        "has_adjustment": adjusted,
        "has_extended_hours": sym.calendar != "24x7" and sym.has_volume,
        "allowed_adjustment": "any" if adjusted else "none",
    }


def _subsessions(sym: SymbolSpec, session: str) -> list[dict[str, Any]]:
    """Regular Trading Hours, plus the extended session of an equity (as TradingView lists
    them: ``regular`` and ``extended``, whichever series was resolved)."""
    regular = "24x7" if sym.calendar == "24x7" else "0930-1600"
    subs = [("Regular Trading Hours", "regular", regular)]
    if sym.calendar != "24x7" and sym.has_volume:
        subs.append(("Extended Trading Hours", "extended", "0400-2000"))
    return [
        {"description": d, "id": i, "private": False, "session": s, "session-display": s}
        for d, i, s in subs
    ]


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
