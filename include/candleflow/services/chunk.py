"""``sync_chunk``: many symbols' windows through one provider connection.

The work of one chunk task of the OHLCV and history DAGs (and of ``candleflow sync``). Why
chunks: a task per symbol pays Airflow's start-up, a provider connection and a warm-up per
symbol, 30 to 30,000 times the cost of moving its bars. A chunk opens **one** provider,
fetches with bounded concurrency (``concurrency`` fetches in flight on that provider; the
TradingView provider serialises them on its one socket, so fetching overlaps with the
validation and loading of the symbols before) and loads each symbol's slices one by one,
each in its own transaction with its own audit row (``services.load``).

Failures stay with their symbol: the others are still stored, and the result lists every
symbol's outcome (``ChunkResult.failures``; the Airflow operator fails the task after
storing them all). With ``resume=True`` (what the operator passes), slices that this run
already loaded (same run id and clear number in ``load_audit``) are skipped, so a retry
redoes only what did not succeed; clearing the run redoes everything.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from candleflow.db import connection
from candleflow.domain import Timeframe
from candleflow.errors import ValidationFailed
from candleflow.providers import IDataProvider, get_provider
from candleflow.services import load, window
from candleflow.services.instruments import resolve_instruments
from candleflow.services.results import ChunkResult, SymbolResult

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 4
OnSlice = Callable[[str, dt.datetime, dt.datetime, "dict[str, Any] | None"], None]
_DONE = ("success", "out_of_window")


def sync_chunk(
    symbols: Sequence[str],
    timeframe: str | Timeframe,
    start: dt.datetime,
    end: dt.datetime,
    settings: load.LoadSettings,
    *,
    provider: str | IDataProvider = "tradingview",
    provider_options: dict[str, Any] | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    resume: bool = False,
    on_slice: OnSlice | None = None,
) -> ChunkResult:
    """Load the bars of each symbol that closed in ``(start, end]``; never raises per symbol.

    ``start``/``end`` are UTC datetimes; ``settings`` carries the run id, warehouse URL,
    thresholds and slice size. ``on_slice(symbol, lo, hi, audit)`` is called after each
    slice (``audit`` None when it failed), for progress bars. Errors before any symbol is
    tried (a bad provider name, an unreachable warehouse) raise.
    """
    tf = Timeframe.parse(timeframe)
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    symbols = list(dict.fromkeys(symbols))
    cuts = window.slices(tf, start, end, settings.slice_bars)
    began = time.perf_counter()
    prov = get_provider(provider, **(provider_options or {}))
    results = {s: SymbolResult(s) for s in symbols}
    conn = connection.connect(settings.url)
    try:
        done = _done_slices(conn, settings, tf, symbols) if resume else set()
        for symbol, _, _ in done:
            results[symbol].skipped += 1
        pending = [s for s in symbols if any((s, lo, hi) not in done for lo, hi in cuts)]
        found, failed = resolve_instruments(prov, pending, url=settings.url)
        for symbol, exc in failed.items():  # audited once, for the whole window
            results[symbol].fail(exc)
            _audit_failure(conn, symbol, tf, prov.name, start, end, settings, exc, began, None)
        jobs = [
            (s, lo, hi) for s in pending if s in found for lo, hi in cuts if (s, lo, hi) not in done
        ]
        with ThreadPoolExecutor(concurrency, thread_name_prefix="cf-fetch") as pool:
            _run(jobs, pool, concurrency, prov, found, conn, tf, settings, results, on_slice)
    finally:
        conn.close()
        if not isinstance(provider, IDataProvider):
            prov.close()
    chunk = ChunkResult(
        tf.name, start, end, list(results.values()), time.perf_counter() - began, prov.name
    )
    for line in chunk.table().splitlines():
        log.info("%s", line)
    return chunk


def _run(jobs, pool, depth, prov, found, conn, tf, settings, results, on_slice) -> None:
    """Fetch ahead (at most ``2 * depth`` slices in memory), store in order."""
    ahead: dict[int, Future] = {}
    for i, (symbol, lo, hi) in enumerate(jobs):
        audit = _one(i, jobs, ahead, pool, depth, prov, found, conn, tf, settings, results)
        if on_slice is not None:
            on_slice(symbol, lo, hi, audit)


def _one(i, jobs, ahead, pool, depth, prov, found, conn, tf, settings, results) -> dict | None:
    """Store slice ``i`` (submitting the fetches ahead of it); its audit row, None if failed."""
    symbol, lo, hi = jobs[i]
    for j in range(i, min(i + 2 * depth, len(jobs))):
        if j not in ahead:
            s, a, b = jobs[j]
            ahead[j] = pool.submit(_timed_fetch, prov, s, tf, a, b, settings.now)
    future = ahead.pop(i)
    result, stored = results[symbol], found[symbol]
    if result.error is not None:  # an earlier slice of this symbol failed: stop there
        future.cancel()
        return None
    clock = time.perf_counter()
    try:
        bars, fetch_s = future.result()
    except Exception as exc:  # noqa: BLE001 - kept with the symbol, audited; the chunk goes on
        result.fail(exc)
        _audit_failure(conn, symbol, tf, prov.name, lo, hi, settings, exc, clock, stored.id)
        return None
    result.quality.fetched(bars, fetch_s)
    try:
        audit = load.store_slice(
            conn, bars, stored.instrument, stored.id, tf, lo, hi, settings,
            provider=prov.name, clock=clock,
        )  # fmt: skip
    except ValidationFailed as exc:  # rejects and audit row already stored
        result.fail(exc)
        result.quality.observe(getattr(exc, "audit", None) or {})
        log.error("%s %s (%s, %s] rejected: %s", symbol, tf, lo, hi, exc)
        return None
    except Exception as exc:  # noqa: BLE001 - rolled back, kept with the symbol, audited
        result.fail(exc)
        connection_ok(conn)
        _audit_failure(conn, symbol, tf, prov.name, lo, hi, settings, exc, clock, stored.id)
        return None
    result.add(audit)
    return audit


def _timed_fetch(prov, symbol, tf, lo, hi, now):
    """``load.fetch_slice`` and its seconds (in the fetch thread: the wait is not counted)."""
    began = time.perf_counter()
    bars = load.fetch_slice(prov, symbol, tf, lo, hi, now)
    return bars, time.perf_counter() - began


def _audit_failure(conn, symbol, tf, provider, lo, hi, settings, exc, clock, instrument_id):
    log.error("%s %s (%s, %s] failed: %s: %s", symbol, tf, lo, hi, type(exc).__name__, exc)
    try:
        load.audit_failure(conn, symbol, tf, provider, lo, hi, settings, exc, clock, instrument_id)
    except Exception as audit_exc:  # noqa: BLE001 - the symbol already failed; keep going
        log.error("could not audit the failure of %s: %s", symbol, audit_exc)
        connection_ok(conn)


def connection_ok(conn) -> None:
    """Roll back whatever a failed statement left open, so the next symbol starts clean."""
    if not conn.closed:
        conn.rollback()


def _done_slices(conn, settings, tf, symbols) -> set[tuple[str, dt.datetime, dt.datetime]]:
    """Slices this run (and clear number) already loaded: what a retry skips."""
    with conn, conn.cursor() as cur:
        cur.execute(
            "SELECT DISTINCT symbol, window_start, window_end FROM candleflow.load_audit"
            " WHERE run_id = %s AND clear_number IS NOT DISTINCT FROM %s AND timeframe = %s"
            " AND symbol = ANY(%s) AND outcome = ANY(%s)",
            (settings.run_id, settings.clear_number, tf.name, list(symbols), list(_DONE)),
        )
        return set(cur.fetchall())
