"""Live quote ticks, captured in bounded windows: one run collects for ``CAPTURE_SECONDS``.

Each run streams the TradingView quote session for the watchlist symbols (or the ``symbols``
param) into ``candleflow.ticks`` in micro-batches, then stops, flushing every tick it read.
Runs follow each other back to back (every 5 minutes, one at a time, no catch-up: a missed
window of live ticks cannot be fetched later). Reconnects inside a run are handled by the
collector; a run that fails anyway is retried, and a retry only adds ticks (the key
``(instrument, ts, seq)`` makes a replayed tick a duplicate, never a second row).

A run with few ticks is normal outside exchange sessions. The run updates the ``TICKS``
asset, which schedules ``bars_rollup``. Stopping a run (mark failed, a timeout, a worker
shutdown) sends SIGTERM: the collector stores every tick it read before exiting, well within
the 5 seconds the task supervisor waits before SIGKILL. The DAG starts paused: unpause it
to capture.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG, Param, dag, task

from candleflow import watchlist
from candleflow.airflow.assets import TICKS
from candleflow.airflow.dags.defaults import OPS_START, default_args
from candleflow.airflow.failures import fails_permanently

CAPTURE_SECONDS = 270.0  # leaves the 5-minute slot room to start up and flush
MIN_TRY_SECONDS = 5.0

# A capture spends 270 s of every 300 running, so every restart of the stack's scheduler (a
# crash, a warehouse restart) ends its try: the new scheduler resets the orphaned try and a
# new one starts. Several such in one window must not use up its retries, and a retry must
# come soon (live ticks missed meanwhile cannot be fetched later): 5 retries, 10 s doubling
# to at most 60 s.
DEFAULT_ARGS = default_args(5, dt.timedelta(seconds=10), max_delay=dt.timedelta(seconds=60))


def try_seconds(seconds: float, run_start: dt.datetime | None, now: dt.datetime) -> float:
    """How long this try captures: to the end of its run's window (``seconds`` from the
    run's start), at least ``MIN_TRY_SECONDS``. A retry that captured ``seconds`` afresh
    would stretch the run past its slot, the next run waiting (one at a time), and a run that
    lives long meets every fault of that time: in a 20-minute soak one run took 6 tries over
    20 minutes and failed for good. Ending with its window, a retry fills the rest of it."""
    if run_start is None:
        return seconds
    left = (run_start + dt.timedelta(seconds=seconds) - now).total_seconds()
    return max(min(left, seconds), MIN_TRY_SECONDS)


def build(wl: watchlist.Watchlist) -> DAG:
    """The ``ticks_capture`` DAG (wiring only; the work is in candleflow.services)."""

    @dag(
        schedule="*/5 * * * *",
        start_date=OPS_START,
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["candleflow", "ticks"],
        is_paused_upon_creation=True,  # a live stream every 5 minutes: yours to turn on
        params={
            "symbols": Param(  # "null" in the type: the Trigger form does not require it
                [], type=["null", "array"], description="Subset of the watchlist; empty = all"
            ),
            "seconds": Param(CAPTURE_SECONDS, type="number", minimum=1, maximum=3600),
        },
        doc_md=__doc__,
    )
    def ticks_capture():
        @task(outlets=[TICKS])
        @fails_permanently
        def capture_ticks(
            params: dict | None = None, run_id: str | None = None, dag_run=None
        ) -> dict:
            from candleflow.airflow import metrics
            from candleflow.airflow.connections import provider_options, warehouse_url
            from candleflow.services.ticks.jobs import capture_ticks

            params = params or {}
            symbols = watchlist.select(watchlist.load(wl.path).symbols, params.get("symbols"))
            result = capture_ticks(
                symbols,
                run_id=run_id,
                duration=try_seconds(
                    float(params["seconds"]),
                    getattr(dag_run, "start_date", None),
                    dt.datetime.now(dt.UTC),
                ),
                url=warehouse_url(),
                provider_options=provider_options("tradingview", {}),
            )
            metrics.ticks(result)
            return result

        capture_ticks()

    return ticks_capture()
