"""The chart-session half of the replay server: resolve, series loads and history paging.

Replies have the shapes TradingView's own have; which bars a request gets
(counts, ranges, ``request_more_data``, the ``max_bars`` lookback) is ``series``'s job. A
load (``create_series`` or ``modify_series``) answers with ``series_loading``, one
``timescale_update`` and ``series_completed``, batched into one websocket frame;
``request_more_data`` answers with the older page and ``series_completed``. A page outside
the history or the lookback has an empty ``s``, which is how a client detects the end
(section 3.8: stop when a page adds zero new bars). The ``ignore_range`` scenario answers a
range as if only the count had been sent, as a server without range support would.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from candleflow.testing import catalogue, scenarios
from candleflow.testing.series import (
    Series,
    load_page,
    older_page,
    parse_range,
    parse_resolution,
    reachable_start,
)
from candleflow.testing.synthetic import bar_rows

if TYPE_CHECKING:
    from candleflow.testing.session import ClientConnection

log = logging.getLogger(__name__)

NODE = "replay-charts-1"

__all__ = ["NODE", "ChartHandler", "Series", "parse_resolution"]


class ChartHandler:
    """Chart sessions of one connection: ``{cs: {"symbols": {...}, "series": {...}}}``."""

    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn
        self.sessions: dict[str, dict[str, dict[str, Any]]] = {}

    def _session(self, cs: str) -> dict[str, dict[str, Any]]:
        return self.sessions.setdefault(
            cs, {"symbols": {}, "series": {}, "adjustments": {}, "sessions": {}}
        )

    async def chart_create_session(self, cs: str, *_: Any) -> None:
        self._session(cs)

    async def chart_delete_session(self, cs: str, *_: Any) -> None:
        self.sessions.pop(cs, None)

    async def switch_timezone(self, cs: str, tz: str = "", *_: Any) -> None:
        if tz == "exchange" or tz in _timezones():
            return
        info = f'method: switch_timezone. args: "[{tz}]"'
        await self.conn.send(self.conn.msg("critical_error", cs, "invalid timezone", info))

    async def resolve_symbol(self, cs: str, alias: str, key: str = "", *_: Any) -> None:
        symbol = catalogue.symbol_from_key(key)
        sym = self.conn.state.spec(symbol)
        self._session(cs)["symbols"][alias] = symbol if sym else None
        self._session(cs)["adjustments"][alias] = catalogue.adjustment_from_key(key)
        self._session(cs)["sessions"][alias] = catalogue.session_from_key(key)
        if sym is None:
            await self.conn.send(
                self.conn.msg("symbol_error", cs, alias, "invalid symbol", ts=True)
            )
        else:
            sym = catalogue.in_session(sym, catalogue.session_from_key(key))
            info = catalogue.symbol_info(sym, adjustments=bool(self.conn.options.adjustments))
            await self.conn.send(self.conn.msg("symbol_resolved", cs, alias, info, ts=True))

    async def _load(
        self,
        cs: str,
        sid: str,
        turnaround: str,
        alias: str,
        res: Any,
        count: Any = None,
        range_: Any = "",
        *_: Any,
        method: str,
    ) -> None:
        """``create_series`` and ``modify_series``: a series (re)load; a create without a
        count asks for 300 bars, a modify without one keeps the count slot empty."""
        if count is None:
            count = 300 if method == "create_series" else ""
        tf = parse_resolution(res)
        if tf is None:
            args = ", ".join(str(x) for x in (sid, turnaround, alias, res, count))
            info = f'method: {method}. args: "[{args}]"'
            await self.conn.send(self.conn.msg("critical_error", cs, "invalid parameters", info))
            return
        loading = self.conn.msg("series_loading", cs, sid, turnaround, ts=True)
        symbol = self._session(cs)["symbols"].get(alias)
        sym = self.conn.state.spec(symbol) if symbol else None
        if sym is not None:  # the descriptor's session: extended hours are their own series
            sym = catalogue.in_session(sym, self._session(cs)["sessions"].get(alias, "regular"))
        if sym is None:
            node = f"{NODE}@{NODE}"
            error = self.conn.msg(
                "series_error", cs, sid, turnaround, "resolve error", node, ts=True
            )
            await self.conn.send(loading, error)
            return
        requested = parse_range(range_) or parse_range(count)  # tvkit: range in the count slot
        if requested is not None and self.conn.options.scenario == "ignore_range":
            requested = None
        series = self._session(cs)["series"].get(sid)
        if method == "create_series" or requested is None or _other(series, sym, tf):
            series = Series(sid, turnaround, alias, sym, tf)  # a fresh load
            series.adjustment = self._session(cs)["adjustments"].get(alias, "splits")
            self._session(cs)["series"][sid] = series
        series.turnaround = turnaround
        starts, ends = load_page(series, count, requested, **self._limits(series))
        await self._deliver(cs, series, starts, ends, first=loading)

    create_series = functools.partialmethod(_load, method="create_series")
    modify_series = functools.partialmethod(_load, method="modify_series")

    async def remove_series(self, cs: str, sid: str, *_: Any) -> None:
        self._session(cs)["series"].pop(sid, None)

    async def request_more_data(self, cs: str, sid: str, n: Any = 100, *_: Any) -> None:
        series = self._session(cs)["series"].get(sid)
        if series is None or not isinstance(n, int):
            info = f'method: request_more_data. args: "[{sid}, {n}]"'
            await self.conn.send(self.conn.msg("critical_error", cs, "invalid parameters", info))
            return
        starts, ends = older_page(series, n, **self._limits(series))
        await self._deliver(cs, series, starts, ends, first=None)

    def _limits(self, series: Series) -> dict[str, Any]:
        now = self.conn.now()
        floor = reachable_start(series, now, self.conn.options.max_bars)
        return {"now": now, "cap": self.conn.state.bar_cap, "floor": floor}

    async def _deliver(
        self, cs: str, series: Series, starts: np.ndarray, ends: np.ndarray, *, first: str | None
    ) -> None:
        conn = self.conn
        history = conn.state.history  # the lean-aapl scenario's real bars
        if history is not None and history.serves(series.sym.symbol):
            starts, ends, rows = history.page(series.tf.name, starts, ends, series.adjustment)
        else:
            rows = bar_rows(series.sym, series.tf, starts, ends, seed=conn.state.seed)
        series.record(starts)
        if conn.options.scenario == "bad_bars":
            rows = scenarios.corrupt_page(rows, series.sym.pricescale)
        head = [first] if first else []
        if (
            first
            and conn.options.scenario == "malformed_frame"
            and conn.state.claim_once("malformed", "")
        ):
            await conn.send_raw(scenarios.MALFORMED_FRAME)
        if conn.options.scenario == "disconnect_mid_page" and conn.state.claim_once(
            "page", series.sym.symbol
        ):
            log.info(
                "scenario disconnect_mid_page: cutting %s after %d bars",
                series.sym.symbol,
                len(rows) // 2,
            )
            conn.record.bars_sent += len(rows) // 2  # before the send: a client may read it
            await conn.send(*head, self._update(cs, series, rows[: len(rows) // 2]))
            conn.abort("disconnect_mid_page")
            return
        completed = conn.msg(
            "series_completed",
            cs,
            series.sid,
            "streaming",
            series.turnaround,
            {"rt_update_period": 5},
            ts=True,
        )
        conn.record.bars_sent += len(rows)  # counted before the client can see the reply
        await conn.send(*head, self._update(cs, series, rows), completed)

    def _update(self, cs: str, series: Series, rows: list[list[Any]]) -> str:
        bars = [{"i": i, "v": v} for i, v in enumerate(rows)]
        close_time = int(rows[-1][0]) + (series.tf.minutes or 1440) * 60 if rows else 0
        body = {
            "node": NODE,
            "s": bars,
            "ns": {"d": "", "indexes": []},
            "t": series.turnaround,
            "lbs": {"bar_close_time": close_time},
        }
        scale = {
            "index": max(len(rows) - 1, 0),
            "zoffset": 0,
            "changes": [r[0] for r in rows],
            "marks": [],
            "index_diff": [],
        }
        return self.conn.msg("timescale_update", cs, {series.sid: body}, scale, ts=True)


@functools.cache
def _timezones() -> frozenset[str]:
    """IANA zone names, read once: ``available_timezones`` walks the zoneinfo tree on every
    call (20-40 ms, which was most of the server's cost per fetched symbol)."""
    import zoneinfo

    return frozenset(zoneinfo.available_timezones())


def _other(series: Series | None, sym: object, tf: object) -> bool:
    """True when a ``modify_series`` changes what the series is (symbol, its session or the
    resolution)."""
    return series is None or series.sym != sym or series.tf != tf
