"""Deterministic synthetic market data: the replay server's source and the tests' oracle.

Every value is a pure function of ``(seed, symbol, timeframe, bar start)``: there is no
state and no random walk to replay, so any page or window gives identical bars and a test
can compare what a client fetched against :func:`bars`. Prices come from a smooth path
``price_at(t)`` (a few sinusoids in log space plus hashed noise), so a bar's open is the
path at its start and its close the path at its end, whatever the timeframe; high, low and
volume come from a hash of the bar key.

Symbols: ``BINANCE:*`` trade 24x7 from 2017-01-01; ``NASDAQ:``, ``NYSE:``, ``AMEX:``,
``SP:SPX`` and ``TVC:*`` follow XNYS from 2000-01-03; ``SP:SPX`` and ``TVC:*`` have no
volume (NaN in :func:`bars`, 5-element bars on the wire). Anything else, or any symbol
containing ``BAD``, is unknown.
"""

from __future__ import annotations

import datetime as dt
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from candleflow.domain import BAR_COLUMNS, Timeframe, to_utc
from candleflow.testing import calendars

_EQUITY_EXCHANGES = frozenset({"NASDAQ", "NYSE", "AMEX"})
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_TWO_PI = 2 * np.pi


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """How the fake server trades one symbol."""

    symbol: str
    calendar: calendars.CalendarName
    has_volume: bool
    pricescale: int = 100


def spec(symbol: str) -> SymbolSpec | None:
    """The symbol's trading rules, or ``None`` if the fake server does not know it."""
    exchange, sep, ticker = symbol.partition(":")
    if not sep or not ticker or "BAD" in symbol.upper():
        return None
    if exchange == "BINANCE":
        return SymbolSpec(symbol, "24x7", has_volume=True)
    if exchange in _EQUITY_EXCHANGES:
        return SymbolSpec(symbol, "XNYS", has_volume=True)
    if symbol == "SP:SPX" or exchange == "TVC":
        return SymbolSpec(symbol, "XNYS", has_volume=False)
    return None


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, vectorised (uint64 arithmetic wraps, which is what we want)."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def hash_key(seed: int, *parts: object) -> int:
    text = "|".join(str(p) for p in (seed, *parts)).encode()
    return zlib.crc32(text) | (zlib.crc32(text[::-1]) << 32)


def uniform(key: int, t: np.ndarray, salt: int = 0) -> np.ndarray:
    """Uniform [0, 1) numbers, one per element of ``t``, fixed by ``key`` and ``salt``."""
    x = np.asarray(t, dtype=np.int64).astype(np.uint64) * _GOLDEN
    x ^= np.uint64((key ^ (salt * 0xD1B54A32D192ED03)) & 0xFFFFFFFFFFFFFFFF)
    return (_mix(_mix(x)) >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _path_params(seed: int, symbol: str) -> np.ndarray:
    return uniform(hash_key(seed, symbol, "path"), np.arange(9))


def price_at(symbol: str, t: np.ndarray, *, seed: int = 1) -> np.ndarray:
    """The synthetic price path at Unix seconds ``t`` (always positive)."""
    p = _path_params(seed, symbol)
    t = np.asarray(t, dtype=np.float64)
    base = np.log(20.0 + 2000.0 * p[0])
    log_price = (
        base
        + 0.45 * np.sin(_TWO_PI * t / (86_400 * (700 + 900 * p[1])) + _TWO_PI * p[2])
        + 0.12 * np.sin(_TWO_PI * t / (86_400 * (40 + 60 * p[3])) + _TWO_PI * p[4])
        + 0.03 * np.sin(_TWO_PI * t / (86_400 * (3 + 4 * p[5])) + _TWO_PI * p[6])
        + 0.004 * np.sin(_TWO_PI * t / (3_600 * (2 + 5 * p[7])) + _TWO_PI * p[8])
        + 0.002 * (uniform(hash_key(seed, symbol, "noise"), t.astype(np.int64)) - 0.5)
    )
    return np.exp(log_price)


def bar_arrays(
    sym: SymbolSpec, tf: Timeframe, starts: np.ndarray, ends: np.ndarray, *, seed: int = 1
) -> dict[str, np.ndarray]:
    """Open, high, low, close and volume (``None`` without volume) of the given bars.

    ``ends`` is where each bar's close is sampled: the grid end for a complete bar, or
    "now" for a forming one (whose range and volume then scale with the elapsed time).
    """
    key = hash_key(seed, sym.symbol, tf.name)
    minutes = np.maximum(ends - starts, 1) / 60.0
    scale = float(sym.pricescale)
    o = np.round(price_at(sym.symbol, starts, seed=seed) * scale) / scale
    c = np.round(price_at(sym.symbol, ends, seed=seed) * scale) / scale
    spread = np.minimum(0.0008 * np.sqrt(minutes), 0.05)
    h = np.round(np.maximum(o, c) * (1 + spread * uniform(key, starts, 1)) * scale) / scale
    lo = np.round(np.minimum(o, c) * (1 - spread * uniform(key, starts, 2)) * scale) / scale
    h, lo = np.maximum(h, np.maximum(o, c)), np.minimum(lo, np.minimum(o, c))
    volume = None
    if sym.has_volume:
        per_minute = 12.0 if sym.calendar == "24x7" else 25_000.0
        volume = per_minute * minutes * (0.3 + 1.4 * uniform(key, starts, 3))
        volume = np.round(volume, 4) if sym.calendar == "24x7" else np.floor(volume)
    return {"open": o, "high": h, "low": lo, "close": c, "volume": volume}


def _seconds(value: dt.datetime | pd.Timestamp | str | float) -> int:
    """Unix seconds of a datetime, ISO string or number (taken as Unix seconds, not ns)."""
    if isinstance(value, int | float):
        return int(value)
    return int(to_utc(value, name="time").timestamp())


def bar_grid(
    symbol: str, timeframe: str | Timeframe, lo: int, hi: int, *, now: int | None = None
) -> tuple[SymbolSpec, Timeframe, np.ndarray, np.ndarray]:
    """Bars starting in ``[lo, hi)`` and before ``now``; a forming bar's end is ``now``."""
    sym = spec(symbol)
    if sym is None:
        raise ValueError(f"unknown synthetic symbol {symbol!r}; expected e.g. BINANCE:BTCUSDT")
    tf = Timeframe.parse(timeframe)
    starts, ends = calendars.grid(sym.calendar, tf, lo, hi if now is None else min(hi, now))
    if now is not None:
        ends = np.minimum(ends, now)
    return sym, tf, starts, ends


def frame(
    sym: SymbolSpec, tf: Timeframe, starts: np.ndarray, ends: np.ndarray, *, seed: int = 1
) -> pd.DataFrame:
    """A ``BAR_COLUMNS`` DataFrame (ts as ``datetime64[us, UTC]``) of the given bars."""
    arrays = bar_arrays(sym, tf, starts, ends, seed=seed)
    if arrays["volume"] is None:
        arrays["volume"] = np.full(len(starts), np.nan)
    ts = pd.to_datetime(starts, unit="s", utc=True).as_unit("us")
    out = pd.DataFrame({"ts": ts, **arrays})
    return out.loc[:, list(BAR_COLUMNS)]


def bars(
    symbol: str,
    timeframe: str | Timeframe,
    start: dt.datetime | pd.Timestamp | str | float,
    end: dt.datetime | pd.Timestamp | str | float,
    *,
    seed: int = 1,
    now: dt.datetime | pd.Timestamp | str | float | None = None,
) -> pd.DataFrame:
    """The synthetic bars of ``symbol`` whose start lies in ``[start, end)``: the oracle.

    Columns are ``BAR_COLUMNS``, ``ts`` is the bar start in UTC, ``volume`` is NaN for
    symbols without volume. Without ``now`` every bar is complete; with ``now`` bars
    starting at or after it are dropped and the bar containing it is the forming bar the
    server sends (close sampled at ``now``). Naive datetimes are taken as UTC and numbers
    as Unix seconds.
    """
    now_s = None if now is None else _seconds(now)
    sym, tf, starts, ends = bar_grid(symbol, timeframe, _seconds(start), _seconds(end), now=now_s)
    return frame(sym, tf, starts, ends, seed=seed)


def bar_rows(
    sym: SymbolSpec, tf: Timeframe, starts: np.ndarray, ends: np.ndarray, *, seed: int
) -> list[list[Any]]:
    """The bars as the replay server sends them: ``[t, o, h, l, c, (v)]`` rows, where symbols
    without volume get 5-element bars."""
    arrays = bar_arrays(sym, tf, starts, ends, seed=seed)
    columns = [starts.astype(np.float64), *(arrays[k] for k in ("open", "high", "low", "close"))]
    if arrays["volume"] is not None:
        columns.append(arrays["volume"])
    return np.column_stack(columns).tolist() if len(starts) else []
