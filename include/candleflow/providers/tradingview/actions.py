"""Corporate actions from TradingView: one chart session, the daily series three ways.

TradingView serves no list of splits and dividends, but the resolve descriptor's
``adjustment`` (``none``, ``splits``, ``dividends``) chooses how a series is adjusted, and an
adjusted series differs from the raw one by a step at each action (``providers.steps``). So
one chart session resolves the symbol once per adjustment (one alias each) and loads the
daily series of each over the same range, all sent at once: one round trip, whatever the
number of sessions. ``none`` and ``dividends`` come first; only when they differ by a step is
``splits`` loaded too, to tell the splits from the dividends. ``symbol_resolved`` says
``has_adjustment``; a symbol without (crypto, an index) has no actions, and the caller
remembers that so it is not asked again soon.

A range of more than ``page_size`` days is checked in consecutive pieces that overlap by a
week, so a step between two pieces is seen by the second.

Confirming that nothing happened is cheaper (``known``): while no action follows a session,
its adjusted close is its raw close, so the ``dividends`` series alone, from a session whose
raw close the last check kept, either shows that close unchanged (no split or dividend
since) or a different one, and only then are the three series loaded.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from candleflow.adjustments import action_frame, empty_actions
from candleflow.errors import ProviderError, SymbolNotFound
from candleflow.providers.steps import derive_actions, steps
from candleflow.providers.tradingview.chart import (
    DESCRIPTOR_ADJUSTMENTS,
    delete_session,
    session_id,
    symbol_key,
)
from candleflow.providers.tradingview.client import Connection

log = logging.getLogger(__name__)

_HALF_DAY = 12 * 3600
_OVERLAP = dt.timedelta(days=7)


@dataclasses.dataclass
class ActionCheck:
    """What one check learned: whether the symbol has adjustments, its actions with ex-dates
    in ``(first, last]``, the session dates ``first``..``last`` it compared, and the raw
    closes of the last two of them (date, close)."""

    has_actions: bool
    actions: pd.DataFrame
    first: dt.date
    last: dt.date
    closes: list[tuple[dt.date, float]] = dataclasses.field(default_factory=list)
    confirmed: bool = False  # by the dividends series alone: no action since ``first``


def fetch_actions(
    conn: Connection,
    symbol: str,
    first: dt.date,
    last: dt.date,
    *,
    page_size: int,
    known: tuple[dt.date, float] | None = None,
) -> ActionCheck:
    """The actions of ``symbol`` whose effect shows between the sessions ``first``..``last``;
    ``known``: a session and its raw close from the last check (see the module docstring)."""
    if known is not None:
        confirmed = _confirm(conn, symbol, known, last)
        if confirmed is not None:
            return confirmed
    pieces, start = [], first
    while True:
        end = min(last, start + dt.timedelta(days=page_size))
        pieces.append(_check(conn, symbol, start, end, page_size))
        if end >= last or not pieces[-1].has_actions:
            break
        start = end - _OVERLAP
    frames = [p.actions for p in pieces if len(p.actions)]
    if len(frames) > 1:
        actions = action_frame(pd.concat(frames).drop_duplicates(["ex_date", "kind"]))
    else:
        actions = frames[0] if frames else pieces[0].actions
    seen = [p for p in pieces if p.first <= p.last]
    return ActionCheck(
        all(p.has_actions for p in pieces),
        actions,
        min((p.first for p in seen), default=first),
        max((p.last for p in seen), default=first),
        pieces[-1].closes,
    )


def _confirm(
    conn: Connection, symbol: str, known: tuple[dt.date, float], last: dt.date
) -> ActionCheck | None:
    """The check from ``known`` to ``last`` when the ``dividends`` series shows the known
    session's close unchanged (no action since), else None (the three series must tell)."""
    day, close = known
    chart = _Adjusted(conn, symbol, ("dividends",))
    try:
        chart.load(max(1, (last - day).days + 1), _range(day, last))
    finally:
        chart.close()
    info = chart.info or {}
    if not info.get("has_adjustment", True):
        return ActionCheck(False, empty_actions(), day, day)
    times, closes = chart.closes()
    days = _days(times, info)
    if not days or days[0] != day:
        return None
    adjusted = closes["dividends"]
    if abs(adjusted[0] / close - 1) > 1e-9:
        log.info(
            "%s: the close of %s moved from %s to %s: an action since",
            symbol,
            day,
            close,
            adjusted[0],
        )
        return None
    recent = [(d, float(c)) for d, c in zip(days[-2:], adjusted[-2:], strict=True)]
    return ActionCheck(True, empty_actions(), day, days[-1], recent, confirmed=True)


def _range(first: dt.date, last: dt.date) -> str:
    lo = int(dt.datetime.combine(first, dt.time(), dt.UTC).timestamp())
    hi = int(dt.datetime.combine(last, dt.time(), dt.UTC).timestamp()) + 86_399
    return f"r,{lo}:{hi}"


def _days(times: np.ndarray, info: dict[str, Any]) -> list[dt.date]:
    """The session dates (exchange-local) of daily bars opening at ``times`` (+12 h: right
    whether a bar is stamped at the session open or at UTC midnight)."""
    zone = ZoneInfo(str(info.get("timezone") or "UTC"))
    return [dt.datetime.fromtimestamp(t + _HALF_DAY, zone).date() for t in times.tolist()]


def _check(conn: Connection, symbol: str, first: dt.date, last: dt.date, count: int):
    """The actions between ``first`` and ``last``: the series as ``none`` and ``dividends``
    first (no step between them: no action, the usual answer), ``splits`` only when there
    is a step to tell a split from a dividend by."""
    count = min(count, (last - first).days + 1)
    times, closes, info = _series(conn, symbol, ("none", "dividends"), count, first, last)
    has = bool(info.get("has_adjustment", True))
    if not has or not len(times):
        return ActionCheck(has, empty_actions(), first, first if not len(times) else last)
    days = _days(times, info)
    recent = [(d, float(c)) for d, c in zip(days[-2:], closes["none"][-2:], strict=True)]
    if not steps(closes["none"], closes["dividends"]):
        return ActionCheck(True, empty_actions(), days[0], days[-1], recent)
    times, closes, info = _series(conn, symbol, DESCRIPTOR_ADJUSTMENTS, count, first, last)
    days = _days(times, info)
    actions = derive_actions(days, closes["none"], closes["splits"], closes["dividends"])
    log.debug("%s: %d sessions compared, %d actions", symbol, len(times), len(actions))
    return ActionCheck(True, actions, days[0], days[-1], recent)


def _series(conn, symbol, adjustments, count, first, last):
    """``(times, closes by adjustment, symbol info)`` of the daily series in one session."""
    chart = _Adjusted(conn, symbol, adjustments)
    try:
        chart.load(count, _range(first, last))
    finally:
        chart.close()
    times, closes = chart.closes()
    return times, closes, chart.info or {}


class _Adjusted:
    """One chart session holding the symbol's daily series in each of ``adjustments``; bars
    keyed by series, then by time (never by index)."""

    def __init__(self, conn: Connection, symbol: str, adjustments: tuple[str, ...]) -> None:
        self.conn, self.symbol, self.cs = conn, symbol, session_id("cs_")
        self.series = {f"sds_{k}": a for k, a in enumerate(adjustments, start=1)}
        self.info: dict[str, Any] | None = None
        self.bars: dict[str, dict[float, float]] = {a: {} for a in adjustments}

    def load(self, count: int, range_: str) -> None:
        send = self.conn.send
        send("chart_create_session", self.cs, "")
        send("switch_timezone", self.cs, "Etc/UTC")
        for sid, adjustment in self.series.items():
            alias = sid.replace("sds_", "sds_sym_")
            send("resolve_symbol", self.cs, alias, symbol_key(self.symbol, adjustment))
            send("create_series", self.cs, sid, "s1", alias, "1D", count, range_)
        waiting = set(self.series)
        deadline = time.monotonic() + self.conn.timeout
        while waiting:
            for msg in self.conn.read(deadline):
                params = msg.get("p") or []
                if params and params[0] == self.cs:
                    deadline = time.monotonic() + self.conn.timeout
                    waiting -= self._handle(msg.get("m"), params)

    def _handle(self, method: Any, p: list[Any]) -> set[str]:
        if method == "symbol_resolved" and len(p) > 2 and p[1] == "sds_sym_1":
            self.info = p[2]
        elif method == "symbol_error":
            raise SymbolNotFound(self.symbol, reason=str(p[2]) if len(p) > 2 else None)
        elif method in ("series_error", "critical_error"):
            reason = str(p[3] if method == "series_error" and len(p) > 3 else p[1:])
            raise ProviderError(f"{method} for {self.symbol}: {reason}", reason=reason)
        elif method in ("timescale_update", "du") and len(p) > 1:
            for sid, series in (p[1] or {}).items():
                if isinstance(series, dict) and isinstance(series.get("s"), list):
                    self._add(sid, series["s"])
        elif method == "series_completed" and len(p) > 1:
            return {str(p[1])}
        return set()

    def _add(self, sid: str, bars: list[Any]) -> None:
        if sid not in self.series:
            return
        store = self.bars[self.series[sid]]
        for bar in bars:
            values = bar.get("v") if isinstance(bar, dict) else None
            if values and len(values) > 4 and values[4] is not None:
                store[float(values[0])] = float(values[4])

    def closes(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Bar times (Unix seconds, ascending) that every series holds, and each series'
        closes at them."""
        common = set.intersection(*(set(bars) for bars in self.bars.values()))
        times = np.array(sorted(common), dtype=np.float64)
        return times, {a: np.array([b[t] for t in times.tolist()]) for a, b in self.bars.items()}

    def close(self) -> None:
        """Free the session for the socket's next user (best effort, as ``ChartSession``)."""
        delete_session(self.conn, self.cs)
