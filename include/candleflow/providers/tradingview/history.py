"""Chart sessions on a ``Connection``: symbol resolution and paged OHLCV history.

Why paging: the server silently caps one request at about 5,000 bars (protocol notes 3.8),
so a long window is ``create_series`` for the newest bars, then ``request_more_data`` for
older pages until the window start is covered or a page brings nothing older.

Bars are keyed by their open time, never by ``i`` (indices are renumbered between pages),
and collected into a ``BarStore`` owned by the caller: when the socket drops mid-fetch the
retry starts a new chart session on a new socket and merges into the same store, so nothing
is lost and nothing is duplicated. A later copy of a bar replaces an earlier one (a live bar
grows; a historical bar re-sent after a reconnect is identical).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import secrets
import string
import time
from typing import Any

from candleflow.domain import Timeframe
from candleflow.errors import ProviderDisconnected, ProviderError, SymbolNotFound
from candleflow.providers.tradingview.bars import BarStore
from candleflow.providers.tradingview.client import Connection

log = logging.getLogger(__name__)

SYMBOL_ALIAS = "sds_sym_1"
SERIES_ID = "sds_1"
TURNAROUND = "s1"
_ALPHABET = string.ascii_letters + string.digits


def session_id(prefix: str) -> str:
    """``cs_``/``qs_`` plus 12 random characters, as the browser names its sessions."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(12))


def symbol_key(symbol: str) -> str:
    """The ``=``-prefixed JSON symbol object of ``resolve_symbol`` (JSON encoded twice)."""
    obj = {"adjustment": "splits", "session": "regular", "symbol": symbol}
    return "=" + json.dumps(obj, separators=(",", ":"), ensure_ascii=True)


class ChartSession:
    """One chart session on ``conn``: filters the shared socket's messages to this session."""

    def __init__(self, conn: Connection, symbol: str) -> None:
        self.conn = conn
        self.symbol = symbol
        self.cs = session_id("cs_")
        self.info: dict[str, Any] | None = None
        self._deadline = 0.0

    def open(self) -> None:
        self.conn.send("chart_create_session", self.cs, "")
        self.conn.send("switch_timezone", self.cs, "Etc/UTC")
        self.conn.send("resolve_symbol", self.cs, SYMBOL_ALIAS, symbol_key(self.symbol))

    def close(self) -> None:
        """Free the session so the socket can serve the next symbol (best effort)."""
        if self.conn.is_open:
            try:
                self.conn.send("chart_delete_session", self.cs)
            except ProviderDisconnected as exc:
                log.debug("chart session %s not deleted: %s", self.cs, exc)

    def resolve(self) -> dict[str, Any]:
        """The ``symbol_resolved`` info; ``symbol_error`` raises at once."""
        self._touch()
        while self.info is None:
            self._next_batch(None)
        return self.info

    def wait_page(self, store: BarStore) -> list[float]:
        """Bar times delivered until ``series_completed`` (the page), merged into ``store``."""
        self._touch()
        page: list[float] = []
        timings = self.conn.timings

        def merge(bars: list[Any]) -> None:
            started = time.perf_counter()
            page.extend(store.add_series(bars))
            timings.merge_s += time.perf_counter() - started

        done = False
        while not done:
            done = self._next_batch(merge)
        return page

    def _touch(self) -> None:
        self._deadline = time.monotonic() + self.conn.timeout

    def _next_batch(self, on_bars: Any) -> bool:
        """Handle one read; True when this session's series completed."""
        completed = False
        for msg in self.conn.read(self._deadline):
            params = msg.get("p") or []
            if not params or params[0] != self.cs:
                continue  # another session's (or a stale) message
            self._touch()
            completed |= self._handle(msg.get("m"), params, on_bars)
        return completed

    def _handle(self, method: Any, p: list[Any], on_bars: Any) -> bool:
        if method == "symbol_resolved" and len(p) > 2:
            self.info = p[2]
        elif method == "symbol_error":
            raise SymbolNotFound(self.symbol, reason=str(p[2]) if len(p) > 2 else None)
        elif method == "series_error":
            reason = str(p[3]) if len(p) > 3 else "unknown"
            raise ProviderError(f"series error for {self.symbol}: {reason}", reason=reason)
        elif method == "critical_error":
            reason = str(p[1]) if len(p) > 1 else "unknown"
            detail = p[2] if len(p) > 2 else ""
            raise ProviderError(
                f"critical error for {self.symbol}: {reason} {detail}", reason=reason
            )
        elif method in ("timescale_update", "du") and on_bars is not None and len(p) > 1:
            for series in (p[1] or {}).values():
                if isinstance(series, dict) and isinstance(series.get("s"), list):
                    on_bars(series["s"])
        elif method == "series_completed":
            return True
        return False


def fetch_history(
    conn: Connection,
    symbol: str,
    tf: Timeframe,
    start: dt.datetime,
    store: BarStore,
    *,
    page_size: int,
    now: dt.datetime,
) -> int:
    """Page back from the newest bar until ``start`` is covered; returns the pages read.

    Stops when the oldest bar is at or before ``start`` or a page brings nothing older
    (history exhausted). Bars after the window end are harmless: the base class trims.
    """
    chart = ChartSession(conn, symbol)
    chart.open()
    try:
        return _page_back(conn, chart, tf, start.timestamp(), store, page_size=page_size, now=now)
    finally:
        chart.close()


def _page_back(
    conn: Connection,
    chart: ChartSession,
    tf: Timeframe,
    target: float,
    store: BarStore,
    *,
    page_size: int,
    now: dt.datetime,
) -> int:
    symbol = chart.symbol
    step = tf.delta.total_seconds()
    wanted = max(1, math.ceil((now.timestamp() - target) / step) + 1)  # wall clock: too many
    conn.send(
        "create_series",
        chart.cs,
        SERIES_ID,
        TURNAROUND,
        SYMBOL_ALIAS,
        tf.tv_resolution,
        min(wanted, page_size),
        "",
    )
    page = chart.wait_page(store)
    pages, oldest = 1, min(page, default=math.inf)
    while page and oldest > target:
        more = max(1, math.ceil((oldest - target) / step) + 1)
        conn.send("request_more_data", chart.cs, SERIES_ID, min(more, page_size))
        page = chart.wait_page(store)
        pages += 1
        if min(page, default=math.inf) >= oldest:
            log.debug("%s %s: history exhausted at %s", symbol, tf, oldest)
            break
        oldest = min(page)
    log.debug("%s %s: %d pages, %d bars held", symbol, tf, pages, len(store))
    return pages


def resolve_info(conn: Connection, symbol: str) -> dict[str, Any]:
    chart = ChartSession(conn, symbol)
    chart.open()
    try:
        return chart.resolve()
    finally:
        chart.close()
