"""OHLCV history over a chart session: ranged requests first, count paging as the fallback.

Why ranges: count paging can only walk back from the newest bar, so a window a year old
costs every bar between it and now (24,129 bars received to return one, measured). A
ranged load (``"r,<from>:<to>"``, Unix seconds, as tvkit and tradingview-rs send it) asks
for the window itself. One reply holds at most about 5,000 bars (``PAGE_SIZE``) and a
server keeps the newest bars of a range that is too long, so a long window is paged *inside*
the range: ``modify_series`` for the part older than the oldest bar received, until a reply
is empty or reaches the window start.

A server that ignores the range answers with the newest bars, some after the window end;
the fetch then falls back to count paging (``request_more_data``) from there, which gives the
same bars at the old cost. Count paging stops when the window start is covered or a page
brings nothing older (history exhausted, or the plan's lookback reached).

Bars are keyed by their open time, never by ``i``, and merged into a ``BarStore`` owned by
the caller: when the socket drops mid-fetch the retry starts a new chart session on a new
socket and merges into the same store, so nothing is lost and nothing is duplicated.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
from typing import Any

from candleflow.domain import Timeframe
from candleflow.providers.tradingview.bars import BarStore
from candleflow.providers.tradingview.chart import ChartSession, session_id
from candleflow.providers.tradingview.client import Connection

__all__ = ["Paging", "fetch_history", "oldest_reachable", "resolve_info", "session_id"]

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Paging:
    """How a fetch went: replies read, and whether the server honoured the range."""

    mode: str = "range"  # "range", "count" (asked for), or "count-fallback" (range ignored)
    pages: int = 0


def fetch_history(
    conn: Connection,
    symbol: str,
    tf: Timeframe,
    start: dt.datetime,
    end: dt.datetime,
    store: BarStore,
    *,
    page_size: int,
    now: dt.datetime,
    ranged: bool = True,
    session: str = "regular",
) -> Paging:
    """Merge every bar starting in ``[start, end)`` into ``store`` (and possibly more:
    bars outside the window are harmless, the base class trims)."""
    chart = ChartSession(conn, symbol, session=session)
    chart.open()
    paging = Paging(mode="range" if ranged else "count")
    lo, hi = math.floor(start.timestamp()), math.ceil(end.timestamp()) - 1
    try:
        if ranged:
            _range_pages(chart, tf, lo, hi, store, paging, page_size=page_size)
        else:
            wanted = _bars_between(tf, lo, now.timestamp())
            chart.load(tf.tv_resolution, min(wanted, page_size))
            paging.pages += 1
            _count_pages(chart, tf, lo, chart.wait_page(store), store, paging, page_size=page_size)
    finally:
        chart.close()
    log.debug("%s %s: %s, %d pages, %d bars", symbol, tf, paging.mode, paging.pages, len(store))
    return paging


def _range_pages(
    chart: ChartSession,
    tf: Timeframe,
    lo: int,
    hi: int,
    store: BarStore,
    paging: Paging,
    *,
    page_size: int,
) -> None:
    upper = hi
    while True:
        count = min(_bars_between(tf, lo, upper + 1), page_size)
        chart.load(tf.tv_resolution, count if paging.pages == 0 else "", f"r,{lo}:{upper}")
        paging.pages += 1
        page = chart.wait_page(store)
        if any(t > upper for t in page):  # the newest bars, not the range asked for
            log.info(
                "%s %s: the server ignored the range r,%d:%d; falling back to count paging",
                chart.symbol,
                tf,
                lo,
                upper,
            )
            paging.mode = "count-fallback"
            _count_pages(chart, tf, lo, page, store, paging, page_size=page_size)
            return
        if not page or min(page) <= lo:
            return  # the rest of the range is empty, or the window start is covered
        upper = int(min(page)) - 1  # the part of the range older than this reply


def _count_pages(
    chart: ChartSession,
    tf: Timeframe,
    target: float,
    page: list[float],
    store: BarStore,
    paging: Paging,
    *,
    page_size: int,
) -> None:
    """``request_more_data`` from ``page`` back until ``target`` is covered or exhausted."""
    oldest = min(page, default=math.inf)
    while page and oldest > target:
        chart.more(min(_bars_between(tf, target, oldest), page_size))
        paging.pages += 1
        page = chart.wait_page(store)
        if min(page, default=math.inf) >= oldest:
            log.debug("%s %s: history exhausted at %s", chart.symbol, tf, oldest)
            return
        oldest = min(page)


def oldest_reachable(
    conn: Connection,
    symbol: str,
    tf: Timeframe,
    max_bars: int,
    *,
    page_size: int,
    session: str = "regular",
) -> float | None:
    """Start (Unix seconds) of the oldest of the newest ``max_bars`` bars the server sends,
    or ``None`` when the series has no bars: the reach of a plan's lookback window.

    Count paging from the newest bar, because that is what a lookback counts; the caller
    asks only when a window reaches back far enough for the answer to matter.
    """
    chart = ChartSession(conn, symbol, session=session)
    chart.open()
    store = BarStore()
    try:
        chart.load(tf.tv_resolution, min(max_bars, page_size))
        page = chart.wait_page(store)
        while page and len(store) < max_bars:
            before = len(store)
            chart.more(min(max_bars - before, page_size))
            page = chart.wait_page(store)
            if len(store) == before:
                break  # history exhausted before max_bars
    finally:
        chart.close()
    times = store.times()[-max_bars:]
    return float(times[0]) if len(times) else None


def _bars_between(tf: Timeframe, lo: float, hi: float) -> int:
    """How many bars of ``tf`` fit in ``[lo, hi)`` by wall clock (an upper bound, at least 1)."""
    return max(1, math.ceil((hi - lo) / tf.delta.total_seconds()) + 1)


def resolve_info(conn: Connection, symbol: str, session: str = "regular") -> dict[str, Any]:
    chart = ChartSession(conn, symbol, session=session)
    chart.open()
    try:
        return chart.resolve()
    finally:
        chart.close()
