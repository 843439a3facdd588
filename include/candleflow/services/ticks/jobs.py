"""The two tick jobs the CLI and the DAGs run: capture a stream, and roll ticks into bars.

Each is one call with plain arguments (symbols, a duration or window, the run id) and a
plain dict of counts as its result, which is what an Airflow task may return (counts, never
data). Heavy imports stay inside, so importing this module is cheap.

Stopping a capture: SIGTERM and SIGINT set the collector's stop event (``handle_signals``, on
by default in the main thread) instead of killing the process; the collector then stores
every tick it read and ``capture_ticks`` returns its counts. Under Airflow that is what
makes a kill flush: the task supervisor sends SIGTERM and escalates to SIGKILL 5 seconds
later (the task SDK's ``escalation_delay``), and a ``@task`` has no ``on_kill`` of its own;
a flush of what a collector holds takes well under a second.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from candleflow.domain import to_utc
from candleflow.errors import BadInputError

if TYPE_CHECKING:
    from candleflow.services.ticks.stats import CollectorStats
    from candleflow.validation.ticks import TickRules

log = logging.getLogger(__name__)


def capture_ticks(
    symbols: Sequence[str],
    *,
    run_id: str,
    duration: float | None = None,
    url: str | None = None,
    provider_url: str | None = None,
    provider_options: dict[str, Any] | None = None,
    batch_size: int = 5000,
    flush_interval: float = 0.5,
    handle_signals: bool = True,
    lock_wait: float | None = None,
    rules: TickRules | None = None,
    on_progress: Callable[[CollectorStats], None] | None = None,
) -> dict[str, Any]:
    """Run the collector on the TradingView quote session for ``duration`` seconds (None:
    until SIGTERM/Ctrl-C); returns its counts.

    ``lock_wait``: seconds to wait for another collector of these symbols to finish (None:
    as long as the run lasts, the DAG's case; 0: fail at once, the CLI's). ``rules``: the
    tick rules (``validation.ticks``), e.g. ``TickRules(late_after=None)`` for a replay.
    ``on_progress``: called with the running counts twice a second (a progress line).
    """
    from candleflow.providers.tradingview import TradingViewProvider
    from candleflow.services.ticks.collector import Collector

    stop = threading.Event()
    options = {**(provider_options or {}), **({"url": provider_url} if provider_url else {})}
    with TradingViewProvider(**options) as provider:
        collector = Collector(
            provider,
            symbols,
            run_id=run_id,
            url=url,
            batch_size=batch_size,
            flush_interval=flush_interval,
            rules=rules,
            lock_wait=lock_wait,
            on_progress=on_progress,
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
    """SIGTERM and SIGINT set ``stop`` (the collector then flushes) instead of killing us;
    the previous handlers (Airflow's, say) are restored afterwards."""
    if threading.current_thread() is not threading.main_thread():
        log.warning("not in the main thread: SIGTERM will not flush this capture")
        yield
        return

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
    start: dt.datetime | str | None = None,
    end: dt.datetime | str | None = None,
    timeframes: Sequence[str] | None = None,
    fill: bool = False,
    url: str | None = None,
) -> dict[str, Any]:
    """Roll every pending closed interval (of ``symbols``) into bars; with ``start``/``end``
    (datetimes or ISO-8601 text, naive = UTC, through ``domain.to_utc``) that window is
    rebuilt first (re-marked dirty). Returns the counts per timeframe."""
    from candleflow.db.connection import connect
    from candleflow.managers import DEFAULT_TIMEFRAMES, BarManager

    try:
        lo = to_utc(start, name="start") if start else dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        hi = to_utc(end, name="end") if end else dt.datetime.now(dt.UTC)
    except (TypeError, ValueError) as exc:
        raise BadInputError(f"rollup window: {exc}") from None
    manager = BarManager(timeframes or DEFAULT_TIMEFRAMES, fill=fill)
    conn = connect(url)
    try:
        ids = _instrument_ids(conn, symbols)
        if start or end:
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
            "SELECT symbol, id FROM candleflow.instruments"
            " WHERE symbol = ANY(%s) AND series_session = 'regular'",
            (list(symbols),),
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
