"""OHLCV history, one DAG per watchlist timeframe: ``ohlcv_1h_history``, ``ohlcv_1d_history``...

What the UI's **Backfill** form (and ``airflow backfill create``) is for: one run per
calendar month (UTC; ``history = "3mo"`` in the watchlist for longer runs), each mapped over
chunks of symbols and loading the month with ranged requests, in slices of bounded memory.
``airflow backfill create --dag-id ohlcv_1h_history --from-date 2025-01-01 --to-date
2026-01-01`` creates a run per month from January 2025 to January 2026 (the range is
inclusive) and stores every 1h bar of 2025.

- **The rule** is the one of ``ohlcv_<tf>``: a run loads the bars that closed inside its
  month, ``(first day 00:00, next month's first day 00:00]``; months tile time.
- **Scheduled runs** re-sync the last closed month, a few seconds after it ends: a
  provider's corrections become updates, counted in ``candleflow.load_audit``.
- **Same rows** as ``ohlcv_<tf>``: both write idempotently, so running both changes nothing.
- **Out of reach**: a month older than the provider serves (TradingView plans keep the last
  N bars of a series) is audited ``out_of_window``, not failed; a month that straddles that
  limit loads what is reachable and counts the rest in ``rows_out_of_reach``.
- **Manual runs** take the same params as ``ohlcv_<tf>`` (``symbols``, ``start``, ``end``,
  ``reject_threshold``, ``session``).
- **Starts paused**, like ``ohlcv_<tf>``: unpause it for its runs (and a backfill's) to start.
"""

from __future__ import annotations

from airflow.sdk import DAG, dag

from candleflow import watchlist
from candleflow.airflow.assets import bars_asset
from candleflow.airflow.dags.defaults import BAR_LOAD_ARGS, HISTORY_START
from candleflow.airflow.dags.params import run_params
from candleflow.airflow.operators import chunk_tasks
from candleflow.airflow.timetables import MonthlyTimetable
from candleflow.dag_specs import DagSpec, history_specs


def history_dag(spec: DagSpec, wl: watchlist.Watchlist) -> DAG:
    """Build the history DAG of one timeframe (wiring only; the work is in candleflow.services)."""

    @dag(
        dag_id=spec.dag_id,
        schedule=MonthlyTimetable(spec.history_months or 1, spec.settle),
        start_date=HISTORY_START,  # backfills may reach back this far; scheduling does not
        catchup=False,
        max_active_runs=4,
        max_active_tasks=8,
        default_args=BAR_LOAD_ARGS,
        tags=["candleflow", "ohlcv", "history", spec.timeframe.name],
        is_paused_upon_creation=True,  # a month of every symbol per run: yours to turn on
        params=run_params(spec, wl),
        doc_md=__doc__,
    )
    def history():
        chunk_tasks(spec, wl, outlets=[bars_asset(spec.timeframe.name)])

    return history()


def build(wl: watchlist.Watchlist) -> list[DAG]:
    """One DAG per timeframe of the watchlist."""
    return [history_dag(spec, wl) for spec in history_specs(wl)]
