"""Roll stored ticks into bars (1m, 5m, 15m, 1h, 1d; ``source = 'rollup'``).

Runs whenever ``ticks_capture`` has stored ticks (the ``TICKS`` asset); after a tick file
import, run ``candleflow rollup`` or trigger this DAG. The rollup is incremental: it builds
only the closed intervals that received new or late ticks since the last run, so an empty
run (nothing new, or only the still-forming minute) is normal and cheap. It is idempotent: a
re-run or a retry rewrites no unchanged bar. A late tick revises its bars and the higher
timeframes built from them, whatever its age (only the live collector turns ticks more than
7 days behind the clock away, as ``late``). Daily bars follow each instrument's exchange
session; instruments that trade in sessions get intraday bars on their session grid (XNYS 1h
bars at 09:30, 10:30, ... New York time) and none outside the regular session (pre- and
post-market ticks stay stored as ticks).

A manual run may name ``symbols`` and an explicit ``start``/``end`` (ISO-8601, UTC) to
rebuild a window, e.g. after a fix. Rolled-up bars never overwrite provider bars. A bad
param (an unknown symbol, an empty window) fails the run at once, without retries.
"""

from __future__ import annotations

from airflow.sdk import DAG, Param, dag, task

from candleflow import watchlist
from candleflow.airflow.assets import TICKS, bars_asset
from candleflow.airflow.dags.defaults import OPS_START, default_args
from candleflow.airflow.failures import fails_permanently
from candleflow.domain import SYMBOL_ITEMS

TIMEFRAMES = ("1m", "5m", "15m", "1h", "1d")

DEFAULT_ARGS = default_args()


def build(wl: watchlist.Watchlist) -> DAG:
    """The ``bars_rollup`` DAG (wiring only; the work is in candleflow.services)."""

    @dag(
        schedule=[TICKS],
        start_date=OPS_START,
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["candleflow", "bars", "rollup"],
        is_paused_upon_creation=False,  # runs only when ticks arrive
        params={
            "symbols": Param(  # "null" in the type: the Trigger form does not require it
                [],
                type=["null", "array"],
                items=SYMBOL_ITEMS,
                description="Only these symbols; empty = all",
            ),
            "start": Param(None, type=["null", "string"], description="Rebuild from (ISO-8601)"),
            "end": Param(None, type=["null", "string"], description="Rebuild until (ISO-8601)"),
        },
        doc_md=__doc__,
    )
    def bars_rollup():
        @task(outlets=[bars_asset(tf) for tf in TIMEFRAMES])
        @fails_permanently
        def roll_up_ticks(params: dict | None = None, run_id: str | None = None) -> dict:
            from candleflow.airflow import lineage, metrics
            from candleflow.airflow.connections import warehouse_url
            from candleflow.services.ticks.jobs import run_rollup

            params, url = params or {}, warehouse_url()
            result = run_rollup(  # parses start/end: bad text is a BadInputError, never retried
                run_id=run_id,
                symbols=params.get("symbols") or None,
                start=params.get("start") or None,
                end=params.get("end") or None,
                timeframes=TIMEFRAMES,
                url=url,
            )
            lineage.rollup(result, url)  # ticks in, bars out (when OpenLineage is on)
            metrics.rollup(result)
            return result

        roll_up_ticks()

    return bars_rollup()
