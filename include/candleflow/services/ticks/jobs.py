"""The two tick jobs the CLI and the DAGs run: capture a stream, and roll ticks into bars.

Each is one call with plain arguments (symbols, a duration or window, the run id) and a
plain dict of counts as its result, which is what an Airflow task may return (counts, never
data). Heavy imports stay inside, so importing this module is cheap.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import signal
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from candleflow.errors import BadInputError

log = logging.getLogger(__name__)


def capture_ticks(
    symbols: Sequence[str],
    *,
    run_id: str,
    duration: float | None = None,
    url: str | None = None,
    provider_url: str | None = None,
    batch_size: int = 5000,
    flush_interval: float = 0.5,
    handle_signals: bool = False,
) -> dict[str, Any]:
    """Run the collector on the TradingView quote session for ``duration`` seconds (None:
    until SIGTERM/Ctrl-C when ``handle_signals``); returns its counts."""
    from candleflow.providers.tradingview import TradingViewProvider
    from candleflow.services.ticks.collector import Collector

    stop = threading.Event()
    with TradingViewProvider(url=provider_url) as provider:
        collector = Collector(
            provider,
            symbols,
            run_id=run_id,
            url=url,
            batch_size=batch_size,
            flush_interval=flush_interval,
        )
        with _stop_on_signals(stop) if handle_signals else contextlib.nullcontext():
            stats = collector.run(stop, duration=duration)
    return {
        "read": stats.read,
        "inserted": stats.inserted,
        "duplicates": stats.duplicates,
        "rejected": stats.rejected,
        "seconds": round(stats.elapsed, 3),
        "latency_p50_ms": round(stats.latency_ms(0.5), 2),
        "latency_p99_ms": round(stats.latency_ms(0.99), 2),
    }


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM and SIGINT set ``stop`` (the collector then flushes) instead of killing us."""

    def handler(signum: int, _frame: object) -> None:
        log.info("signal %s received: flushing and stopping", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run_rollup(
    *,
    run_id: str,
    symbols: Sequence[str] | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    timeframes: Sequence[str] | None = None,
    fill: bool = False,
    url: str | None = None,
) -> dict[str, Any]:
    """Roll every pending closed interval (of ``symbols``) into bars; with ``start``/``end``
    that window is rebuilt first (re-marked dirty). Returns the counts per timeframe."""
    from candleflow.db.connection import connect
    from candleflow.managers import DEFAULT_TIMEFRAMES, BarManager

    manager = BarManager(timeframes or DEFAULT_TIMEFRAMES, fill=fill)
    conn = connect(url)
    try:
        ids = _instrument_ids(conn, symbols)
        if start is not None or end is not None:
            lo = start or dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
            hi = end or dt.datetime.now(dt.UTC)
            if lo >= hi:
                raise BadInputError(f"rollup window is empty: start {lo} >= end {hi}")
            with conn:
                manager.mark_window(conn, ids if ids is not None else _all_ids(conn), lo, hi)
        result = manager.rollup(conn, run_id=run_id, instrument_ids=ids)
    finally:
        conn.close()
    return {
        "built": result.built,
        "inserted": result.inserted,
        "updated": result.updated,
        "filled": result.filled,
        "seconds": round(result.duration_s, 3),
    }


def _instrument_ids(conn, symbols: Sequence[str] | None) -> list[int] | None:
    if not symbols:
        return None
    with conn, conn.cursor() as cur:
        cur.execute(
            "SELECT symbol, id FROM candleflow.instruments WHERE symbol = ANY(%s)", (list(symbols),)
        )
        found = dict(cur.fetchall())
    missing = [s for s in symbols if s not in found]
    if missing:
        raise BadInputError(f"unknown symbol(s) {missing}: no ticks were ever stored for them")
    return [found[s] for s in symbols]


def _all_ids(conn) -> list[int]:
    with conn.cursor() as cur:
        cur.execute("SELECT id FROM candleflow.instruments")
        return [row[0] for row in cur.fetchall()]
