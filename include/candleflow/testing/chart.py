"""The chart-session half of the replay server: resolve, series loads and history paging.

Replies follow ``TRADINGVIEW_PROTOCOL.md`` sections 3.2-3.8. A load (``create_series`` or
``modify_series``) answers with ``series_loading``, one ``timescale_update`` holding
``min(count, bar_cap)`` bars ending at the server's "now" (the last one may be the forming
bar, its close sampled at now) and ``series_completed``, batched into one websocket frame.
``request_more_data`` answers with the next older page and ``series_completed``; once the
history is exhausted the page's ``s`` is empty, which is how a client detects the end
(section 3.8: stop when a page adds zero new bars).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from candleflow.domain import Timeframe
from candleflow.testing import calendars, catalogue, scenarios
from candleflow.testing.synthetic import SymbolSpec, bar_arrays, spec

if TYPE_CHECKING:
    from candleflow.testing.session import ClientConnection

log = logging.getLogger(__name__)

NODE = "replay-charts-1"
_RESOLUTION_ALIASES = {"D": "1D", "W": "1W", "M": "1M", "1H": "60", "2H": "120", "4H": "240"}


@dataclasses.dataclass(slots=True)
class Series:
    """A loaded series: what the client named it and how far back it has been paged."""

    sid: str
    turnaround: str
    alias: str
    sym: SymbolSpec
    tf: Timeframe
    earliest: int | None = None  # start of the oldest bar sent so far


def parse_resolution(code: object) -> Timeframe | None:
    """The timeframe of a TradingView resolution string, or ``None`` if unsupported."""
    if not isinstance(code, str):
        return None
    try:
        return Timeframe.from_resolution(_RESOLUTION_ALIASES.get(code, code))
    except ValueError:
        return None


def bar_rows(series: Series, starts: np.ndarray, ends: np.ndarray, seed: int) -> list[list[Any]]:
    """``[t, o, h, l, c, (v)]`` rows; symbols without volume get 5-element bars."""
    arrays = bar_arrays(series.sym, series.tf, starts, ends, seed=seed)
    columns = [starts.astype(np.float64), *(arrays[k] for k in ("open", "high", "low", "close"))]
    if arrays["volume"] is not None:
        columns.append(arrays["volume"])
    return np.column_stack(columns).tolist() if len(starts) else []


class ChartHandler:
    """Chart sessions of one connection: ``{cs: {"symbols": {...}, "series": {...}}}``."""

    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn
        self.sessions: dict[str, dict[str, dict[str, Any]]] = {}

    def _session(self, cs: str) -> dict[str, dict[str, Any]]:
        return self.sessions.setdefault(cs, {"symbols": {}, "series": {}})

    async def chart_create_session(self, cs: str, *_: Any) -> None:
        self._session(cs)

    async def chart_delete_session(self, cs: str, *_: Any) -> None:
        self.sessions.pop(cs, None)

    async def switch_timezone(self, cs: str, tz: str = "", *_: Any) -> None:
        import zoneinfo

        if tz == "exchange" or tz in zoneinfo.available_timezones():
            return
        info = f'method: switch_timezone. args: "[{tz}]"'
        await self.conn.send(self.conn.msg("critical_error", cs, "invalid timezone", info))

    async def resolve_symbol(self, cs: str, alias: str, key: str = "", *_: Any) -> None:
        symbol = catalogue.symbol_from_key(key)
        info = catalogue.symbol_info(symbol)
        self._session(cs)["symbols"][alias] = symbol if info else None
        if info is None:
            await self.conn.send(
                self.conn.msg("symbol_error", cs, alias, "invalid symbol", ts=True)
            )
        else:
            await self.conn.send(self.conn.msg("symbol_resolved", cs, alias, info, ts=True))

    async def create_series(
        self,
        cs: str,
        sid: str,
        turnaround: str,
        alias: str,
        res: Any,
        count: Any = 300,
        range_: Any = "",
        *_: Any,
    ) -> None:
        tf = parse_resolution(res)
        if tf is None:
            args = ", ".join(str(x) for x in (sid, turnaround, alias, res, count))
            info = f'method: create_series. args: "[{args}]"'
            await self.conn.send(self.conn.msg("critical_error", cs, "invalid parameters", info))
            return
        loading = self.conn.msg("series_loading", cs, sid, turnaround, ts=True)
        symbol = self._session(cs)["symbols"].get(alias)
        sym = spec(symbol) if symbol else None
        if sym is None:
            node = f"{NODE}@{NODE}"
            error = self.conn.msg(
                "series_error", cs, sid, turnaround, "resolve error", node, ts=True
            )
            await self.conn.send(loading, error)
            return
        series = Series(sid, turnaround, alias, sym, tf)
        self._session(cs)["series"][sid] = series
        starts, ends = self._first_page(series, count, range_)
        await self._deliver(cs, series, starts, ends, first=loading)

    async def modify_series(
        self, cs: str, sid: str, turnaround: str, alias: str, *rest: Any
    ) -> None:
        await self.create_series(cs, sid, turnaround, alias, *rest)

    async def remove_series(self, cs: str, sid: str, *_: Any) -> None:
        self._session(cs)["series"].pop(sid, None)

    async def request_more_data(self, cs: str, sid: str, n: Any = 100, *_: Any) -> None:
        series = self._session(cs)["series"].get(sid)
        if series is None or not isinstance(n, int):
            info = f'method: request_more_data. args: "[{sid}, {n}]"'
            await self.conn.send(self.conn.msg("critical_error", cs, "invalid parameters", info))
            return
        before = series.earliest if series.earliest is not None else self.conn.now()
        starts, ends = calendars.last_n(
            series.sym.calendar, series.tf, before, min(n, self.conn.state.bar_cap)
        )
        await self._deliver(cs, series, starts, ends, first=None)

    def _first_page(self, series: Series, count: Any, range_: Any) -> tuple[np.ndarray, np.ndarray]:
        now, cap = self.conn.now(), self.conn.state.bar_cap
        cal, tf = series.sym.calendar, series.tf
        if isinstance(range_, str) and range_.startswith("r,"):
            lo_text, _, hi_text = range_[2:].partition(":")
            starts, ends = calendars.grid(cal, tf, int(lo_text), min(int(hi_text) + 1, now))
            starts, ends = starts[-cap:], ends[-cap:]
        elif isinstance(count, list) and len(count) == 3 and count[0] == "bar_count":
            starts, ends = calendars.last_n(
                cal, tf, min(int(count[1]) + 1, now), min(count[2], cap)
            )
        else:
            n = count if isinstance(count, int) and count > 0 else 300
            starts, ends = calendars.last_n(cal, tf, now, min(n, cap))
        return starts, np.minimum(ends, now)

    async def _deliver(
        self, cs: str, series: Series, starts: np.ndarray, ends: np.ndarray, *, first: str | None
    ) -> None:
        conn = self.conn
        rows = bar_rows(series, starts, ends, conn.state.seed)
        if len(starts):
            series.earliest = int(starts[0])
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
