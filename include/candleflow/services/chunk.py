"""``sync_chunk``: many symbols' windows through one provider connection.

The work of one chunk task of the OHLCV and history DAGs (and of ``candleflow sync``). Why
chunks: a task per symbol pays Airflow's start-up, a provider connection and a warm-up per
symbol, 30 to 30,000 times the cost of moving its bars. A chunk opens **one** provider,
fetches with bounded concurrency (``concurrency`` fetches in flight on that provider; the
TradingView provider serialises them on its one socket, so fetching overlaps with the
validation and loading of the symbols before) and stores each symbol's slices in order, each
in its own transaction with its own audit row (``services.load``), on a few writer lanes
that store different symbols at once (``services.lanes``).

Failures stay with their symbol: the others are still stored, and the result lists every
symbol's outcome (``ChunkResult.failures``; the Airflow operator fails the task after
storing them all). With ``resume=True`` (what the operator passes), slices that this run
already loaded (same run id and clear number in ``load_audit``) are skipped, so a retry
redoes only what did not succeed; clearing the run redoes everything.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from candleflow.db import audit, connection, docs_store
from candleflow.domain import Timeframe
from candleflow.providers import IDataProvider, get_provider
from candleflow.services import action_checks, batches, catchup, load, window
from candleflow.services.instruments import StoredInstrument, resolve_instruments
from candleflow.services.lanes import DEFAULT_LANES, Lanes, audit_failure
from candleflow.services.results import ChunkResult, SymbolResult
from candleflow.validation import sidecar

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 4
OnSlice = Callable[[str, dt.datetime, dt.datetime, "dict[str, Any] | None"], None]
_DONE = ("success", "out_of_window")


@dataclass
class _Context:
    """What every slice of one chunk shares (read by the writer lanes)."""

    tf: Timeframe
    settings: load.LoadSettings
    provider: str
    found: dict[str, StoredInstrument]
    results: dict[str, SymbolResult]
    on_slice: OnSlice | None
    due: dict[str, action_checks.Due] = field(default_factory=dict)


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
    lanes: int = DEFAULT_LANES,
    resume: bool = False,
    on_slice: OnSlice | None = None,
    catch_up: bool = False,
) -> ChunkResult:
    """Load the bars of each symbol that closed in ``(start, end]``; never raises per symbol.

    ``start``/``end`` are UTC datetimes; ``settings`` carries the run id, warehouse URL,
    thresholds and slice size. ``catch_up`` (a scheduled run) also loads each series from
    its watermark to ``start`` (``services.catchup``). ``on_slice(symbol, lo, hi, audit)``
    is called after each slice (``audit`` None when it failed), for progress bars. Errors
    before any symbol is tried (a bad provider name, an unreachable warehouse) raise.
    """
    tf = Timeframe.parse(timeframe)
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    symbols = list(dict.fromkeys(symbols))
    if catch_up:
        settings = dataclasses.replace(settings, catch_up_to=start)
    cuts = window.slices(tf, start, end, settings.slice_bars)
    behind: dict[str, dt.datetime] = {}
    began = time.perf_counter()
    prov = get_provider(provider, **(provider_options or {}))
    results = {s: SymbolResult(s) for s in symbols}
    try:
        conn = connection.connect(settings.url)
        try:
            done = (
                audit.loaded_windows(
                    conn,
                    settings.run_id,
                    settings.clear_number,
                    tf.name,
                    symbols,
                    _DONE,
                    prov.session,
                )
                if resume
                else set()
            )
            for symbol, _, _ in done:
                results[symbol].skipped += 1
            todo = [s for s in symbols if any((s, lo, hi) not in done for lo, hi in cuts)]
            found, failed = resolve_instruments(prov, todo, url=settings.url)
            ctx = _Context(tf, settings, prov.name, found, results, on_slice)
            for symbol, exc in failed.items():  # audited once, for the whole window
                results[symbol].fail(exc)
                audit_failure(conn, symbol, start, end, exc, began, None, ctx)
            ctx.due = action_checks.plan(conn, prov, found, tf, start, settings.now)
            if catch_up:
                behind = catchup.starts(conn, found, tf, start)
        finally:
            conn.close()
        for symbol, begin in behind.items():
            results[symbol].caught_up_from = begin
        jobs = [
            (s, lo, hi)
            for s in todo
            if s in found
            for lo, hi in _gap(tf, behind.get(s), start, settings) + cuts
            if (s, lo, hi) not in done
        ]
        # GX on the other core when this process is cold, unless fetching needs that core
        helper = None if prov.cpu_bound else sidecar.helper(len(jobs))
        with ThreadPoolExecutor(concurrency, thread_name_prefix="cf-fetch") as pool:
            reach = batches.ahead(
                concurrency, _slice_rows(tf, cuts), _budget(settings, concurrency)
            )
            writers = Lanes(min(lanes, max(1, len(jobs))), ctx, room=min(reach, len(jobs)))
            _run(jobs, pool, prov, writers, reach, helper)
        docs_store.flush()  # the slices' Data Docs pages are on disk when the chunk returns
    finally:
        if not isinstance(provider, IDataProvider):
            prov.close()
    chunk = ChunkResult(
        tf.name, start, end, list(results.values()), time.perf_counter() - began, prov.name
    )
    for line in chunk.table().splitlines():
        log.info("%s", line)
    return chunk


def _run(jobs, pool, prov, lanes: Lanes, reach: int, helper) -> None:
    """Fetch ahead, validate in batches (``services.batches``), store on the lanes.

    The fetches run ahead by as many slices as ``2 * depth`` full slices hold bars (every
    window of an hourly refresh; two per fetch thread of a long window), which bounds the
    memory of fetched bars waiting besides the lanes'.
    """
    ctx = lanes.ctx
    rows = ctx.settings.slice_bars
    batcher = batches.Batcher(
        lanes, windows=batches.DEFAULT_BATCH_WINDOWS, max_rows=rows, sidecar=helper
    )
    ahead: dict[int, Future] = {}
    submitted = 0  # jobs[:submitted] have their fetch submitted
    try:
        for i, (symbol, lo, hi) in enumerate(jobs):
            while submitted < min(i + reach, len(jobs)):
                s, a, b = jobs[submitted]
                due = ctx.due.pop(s, None)  # asked with the symbol's first slice only
                ahead[submitted] = pool.submit(
                    _timed_fetch, prov, s, ctx.tf, a, b, ctx.settings.now, due
                )
                submitted += 1
            batcher.add(symbol, lo, hi, ahead.pop(i))
        batcher.flush()
    finally:
        lanes.close()


def _gap(tf: Timeframe, begin, start, settings: load.LoadSettings) -> list:
    """The catch-up slices of a series behind by ``(begin, start]`` (none when not behind)."""
    return [] if begin is None else window.slices(tf, begin, start, settings.slice_bars)


def _budget(settings: load.LoadSettings, depth: int) -> int | None:
    """Bars that may wait fetched (ahead of the lanes): ``2 * depth`` full slices."""
    return settings.slice_bars and settings.slice_bars * 2 * depth


def _slice_rows(tf: Timeframe, cuts) -> int:
    """The bars of the largest slice if every bar of its span existed (for fetch-ahead)."""
    if not cuts:
        return 1
    return max(1, int(max(hi - lo for lo, hi in cuts) / tf.delta))


def _timed_fetch(prov, symbol, tf, lo, hi, now, due=None) -> tuple[window.Slice, float]:
    """``window.fetch_slice`` and its seconds (in the fetch thread: the wait is not counted);
    with ``due``, the instrument's corporate actions too, carried in the frame's ``attrs``."""
    began = time.perf_counter()
    piece = window.fetch_slice(prov, symbol, tf, lo, hi, now)
    if due is not None:
        piece.bars.attrs["corporate_actions"] = action_checks.fetch(prov, symbol, due, now)
    return piece, time.perf_counter() - began
