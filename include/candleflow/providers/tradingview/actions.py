"""Corporate actions from TradingView: one chart session, the daily series three ways.

TradingView serves no list of splits and dividends, but the resolve descriptor's
``adjustment`` (``none``, ``splits``, ``dividends``) chooses how a series is adjusted, and an
adjusted series differs from the raw one by a step at each action (``providers.steps``). So
one chart session resolves the symbol three times (one alias per adjustment) and loads the
daily series of each over the same range, all sent at once: one round trip, whatever the
number of sessions. ``symbol_resolved`` says ``has_adjustment``; a symbol without (crypto, an
index) has no actions, and the caller remembers that so it is not asked again soon.

A range of more than ``page_size`` days is checked in consecutive pieces that overlap by a
week, so a step between two pieces is seen by the second.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from typing import Any

import numpy as np
import pandas as pd

from candleflow.adjustments import action_frame
from candleflow.errors import ProviderDisconnected, ProviderError, SymbolNotFound
from candleflow.providers.steps import derive_actions
from candleflow.providers.tradingview.chart import DESCRIPTOR_ADJUSTMENTS, session_id, symbol_key
from candleflow.providers.tradingview.client import Connection

log = logging.getLogger(__name__)

_HALF_DAY = 12 * 3600
_OVERLAP = dt.timedelta(days=7)


@dataclasses.dataclass
class ActionCheck:
    """What one check learned: whether the symbol has adjustments, its actions with ex-dates
    in ``(first, last]``, and the session dates ``first``..``last`` it compared."""

    has_actions: bool
    actions: pd.DataFrame
    first: dt.date
    last: dt.date


def fetch_actions(
    conn: Connection, symbol: str, first: dt.date, last: dt.date, *, page_size: int
) -> ActionCheck:
    """The actions of ``symbol`` whose effect shows between the sessions ``first``..``last``."""
    pieces, start = [], first
    while True:
        end = min(last, start + dt.timedelta(days=page_size))
        pieces.append(_check(conn, symbol, start, end, page_size))
        if end >= last or not pieces[-1].has_actions:
            break
        start = end - _OVERLAP
    frames = [p.actions for p in pieces if len(p.actions)]
    actions = pd.concat(frames).drop_duplicates(["ex_date", "kind"]) if frames else action_frame([])
    seen = [p for p in pieces if p.first <= p.last]
    return ActionCheck(
        all(p.has_actions for p in pieces),
        action_frame(actions),
        min((p.first for p in seen), default=first),
        max((p.last for p in seen), default=first),
    )


def _check(conn: Connection, symbol: str, first: dt.date, last: dt.date, count: int):
    chart = _Triple(conn, symbol)
    lo = int(dt.datetime.combine(first, dt.time(), dt.UTC).timestamp())
    hi = int(dt.datetime.combine(last, dt.time(), dt.UTC).timestamp()) + 86_399
    try:
        chart.load(min(count, (last - first).days + 1), f"r,{lo}:{hi}")
    finally:
        chart.close()
    info = chart.info or {}
    has = bool(info.get("has_adjustment", True))
    closes = chart.closes()
    if not has or closes.empty:
        return ActionCheck(has, action_frame([]), first, last if closes.empty else first)
    tz = str(info.get("timezone") or "UTC")
    days = (
        pd.to_datetime(closes.index + _HALF_DAY, unit="s", utc=True)
        .tz_convert(tz)
        .tz_localize(None)
        .normalize()
    )
    actions = derive_actions(days.to_numpy(), closes["none"], closes["splits"], closes["dividends"])
    log.debug("%s: %d sessions compared, %d actions", symbol, len(closes), len(actions))
    return ActionCheck(True, actions, days[0].date(), days[-1].date())


class _Triple:
    """One chart session holding the symbol's daily series as ``none``, ``splits`` and
    ``dividends``; bars keyed by series, then by time (never by index)."""

    def __init__(self, conn: Connection, symbol: str) -> None:
        self.conn, self.symbol, self.cs = conn, symbol, session_id("cs_")
        self.info: dict[str, Any] | None = None
        self.bars: dict[str, dict[float, float]] = {a: {} for a in DESCRIPTOR_ADJUSTMENTS}

    def load(self, count: int, range_: str) -> None:
        send = self.conn.send
        send("chart_create_session", self.cs, "")
        send("switch_timezone", self.cs, "Etc/UTC")
        for k, adjustment in enumerate(DESCRIPTOR_ADJUSTMENTS, start=1):
            send("resolve_symbol", self.cs, f"sds_sym_{k}", symbol_key(self.symbol, adjustment))
            send("create_series", self.cs, f"sds_{k}", "s1", f"sds_sym_{k}", "1D", count, range_)
        waiting = {f"sds_{k}" for k in range(1, len(DESCRIPTOR_ADJUSTMENTS) + 1)}
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
        series = {f"sds_{k}": a for k, a in enumerate(DESCRIPTOR_ADJUSTMENTS, start=1)}
        if sid not in series:
            return
        store = self.bars[series[sid]]
        for bar in bars:
            values = bar.get("v") if isinstance(bar, dict) else None
            if values and len(values) > 4 and values[4] is not None:
                store[float(values[0])] = float(values[4])

    def closes(self) -> pd.DataFrame:
        """The closes of the sessions all three series hold, by bar time (Unix seconds)."""
        frame = pd.DataFrame({a: pd.Series(self.bars[a], dtype="float64") for a in self.bars})
        frame = frame.dropna().sort_index()
        frame.index = frame.index.to_numpy(dtype=np.int64)
        return frame

    def close(self) -> None:
        """Free the session for the socket's next user (best effort, as ``ChartSession``)."""
        if self.conn.is_open:
            try:
                self.conn.send("chart_delete_session", self.cs)
            except ProviderDisconnected as exc:
                log.debug("chart session %s not deleted: %s", self.cs, exc)
