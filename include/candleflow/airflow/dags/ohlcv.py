"""OHLCV bars, one DAG per watchlist timeframe: ``ohlcv_1m``, ``ohlcv_1h``, ``ohlcv_1d``...

**The rule: a run loads the bars that closed inside its data interval.** A bar covers
``[ts, ts + timeframe)``; the run of ``[data_interval_start, data_interval_end)`` loads every
bar whose end is in ``(data_interval_start, data_interval_end]``, and is due 30 seconds after
the interval ends, so an hourly bar is in the warehouse about a minute after it closes. A bar
that starts off the clock grid (an XNYS 1h bar at :30) belongs to the interval it closes in;
a timeframe with ``calendar = "XNYS"`` gets its own grid ending at :30. Intervals tile time:
every bar closes in exactly one of them.

Each run is mapped over **chunks of symbols** (watchlist ``chunk_size``): a chunk task holds
one provider connection, fetches with bounded concurrency, and validates and loads each
symbol's bars in its own transaction, one ``candleflow.load_audit`` row per symbol (rejects
go to ``candleflow.rejected_bars``). Its log ends with a per-symbol table. A failing symbol
does not stop the others; the task fails after storing them (no retry when every failure is
permanent), and a retry redoes only the symbols that did not succeed.

- **Re-runs** converge: a cleared run rewrites nothing that did not change.
- **Backfills** (``airflow backfill create`` or the UI) over any past range load exactly
  that range; many small intervals give the same rows as one large window. For months or
  years, backfill ``ohlcv_<tf>_history`` instead (one run per month).
- **Manual runs** take params: a subset of ``symbols``, an explicit ``start``/``end``
  (ISO-8601, UTC; the bars that closed in ``(start, end]``, loaded in bounded slices), the
  ``reject_threshold`` and the ``session`` (``extended``: the pre- and post-market series
  of US equities, stored apart from the regular one; empty: the watchlist's).
- **Empty runs are normal**: equities have no intraday bars outside their sessions.
- Daily bars of exchange-traded symbols follow the trading calendar (one run per session,
  none on weekends or holidays); 24x7 symbols get their own ``_24x7`` DAG.

The watchlist is the file the DAG file gives ``watchlist_dags``, else the file
``CANDLEFLOW_WATCHLIST`` names, else ``candleflow/watchlist.toml``.
These DAGs start **paused**: each run calls the provider for every watchlist symbol, so
unpause them once the watchlist is yours.
"""

from __future__ import annotations

from airflow.sdk import DAG, dag

from candleflow import watchlist
from candleflow.airflow.assets import bars_asset
from candleflow.airflow.dags.defaults import BAR_LOAD_ARGS, HISTORY_START
from candleflow.airflow.dags.params import run_params
from candleflow.airflow.operators import chunk_tasks
from candleflow.airflow.timetables import SettledIntervalTimetable, TradingSessionTimetable
from candleflow.dag_specs import DagSpec, dag_specs


def ohlcv_dag(spec: DagSpec, wl: watchlist.Watchlist) -> DAG:
    """Build the DAG of one timeframe (wiring only; the work is in candleflow.services)."""

    @dag(
        dag_id=spec.dag_id,
        schedule=TradingSessionTimetable(spec.calendar)
        if spec.calendar
        else SettledIntervalTimetable(spec.every, spec.settle, spec.offset),
        start_date=HISTORY_START,  # backfills may reach back this far; scheduling does not
        catchup=False,
        max_active_runs=4,
        max_active_tasks=8,
        default_args=BAR_LOAD_ARGS,
        tags=["candleflow", "ohlcv", spec.timeframe.name],
        is_paused_upon_creation=True,  # loads every watchlist symbol: yours to turn on
        params=run_params(spec, wl),
        doc_md=__doc__,
    )
    def ohlcv():
        chunk_tasks(spec, wl, outlets=[bars_asset(spec.timeframe.name)])

    return ohlcv()


def build(wl: watchlist.Watchlist) -> list[DAG]:
    """One DAG per timeframe of the watchlist."""
    return [ohlcv_dag(spec, wl) for spec in dag_specs(wl)]
