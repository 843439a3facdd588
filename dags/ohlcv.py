"""OHLCV bars, one DAG per watchlist timeframe: ``ohlcv_1m``, ``ohlcv_1h``, ``ohlcv_1d``...

Each run loads exactly its data interval ``[data_interval_start, data_interval_end)`` for
every watchlist symbol: one mapped task per instrument fetches the bars from the provider,
validates them with Great Expectations and loads them in one transaction (rejects go to
``candleflow.rejected_bars``, counts to ``candleflow.load_audit``). A run starts once the
bars of its interval are final, so no forming bar is ever stored.

- **Re-runs** converge: a cleared run rewrites nothing that did not change.
- **Backfills** (``airflow backfill create`` or the UI) over any past range load exactly
  that range; many small intervals give the same rows as one large window.
- **Manual runs** take params: a subset of ``symbols``, an explicit ``start``/``end``
  (ISO-8601, UTC) and the ``reject_threshold``.
- **Empty runs are normal**: equities have no intraday bars outside their sessions.
- Daily bars of exchange-traded symbols follow the trading calendar (one run per session,
  none on weekends or holidays); 24x7 symbols get their own ``_24x7`` DAG.

The watchlist is ``candleflow/watchlist.toml`` or the file ``CANDLEFLOW_WATCHLIST`` names.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, dag, task

from candleflow import watchlist
from candleflow.airflow.operators import SyncBarsOperator
from candleflow.airflow.timetables import SettledIntervalTimetable, TradingSessionTimetable
from candleflow.assets import bars_asset

WATCHLIST = watchlist.load()
HISTORY_START = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)

DEFAULT_ARGS = {
    "owner": "candleflow",
    "retries": 3,
    "retry_delay": dt.timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": dt.timedelta(minutes=10),
}


def ohlcv_dag(spec: watchlist.DagSpec):
    """Build the DAG of one timeframe (wiring only; the work is in candleflow.services)."""

    @dag(
        dag_id=spec.dag_id,
        schedule=TradingSessionTimetable(spec.calendar)
        if spec.calendar
        else SettledIntervalTimetable(spec.every, spec.settle),
        start_date=HISTORY_START,  # backfills may reach back this far; scheduling does not
        catchup=False,
        max_active_runs=4,
        max_active_tasks=8,
        default_args=DEFAULT_ARGS,
        tags=["candleflow", "ohlcv", spec.timeframe.name],
        params={
            "symbols": Param([], type="array", description="Subset of the watchlist; empty = all"),
            "start": Param(None, type=["null", "string"], description="Window start (ISO-8601)"),
            "end": Param(None, type=["null", "string"], description="Window end (ISO-8601)"),
            "reject_threshold": Param(
                WATCHLIST.reject_threshold, type="number", minimum=0, maximum=1
            ),
        },
        doc_md=__doc__,
    )
    def ohlcv():
        @task
        def list_symbols(params: dict | None = None) -> list[str]:
            return watchlist.select(spec.symbols, (params or {}).get("symbols"))

        SyncBarsOperator.partial(
            task_id="sync_bars",
            timeframe=spec.timeframe.name,
            provider=WATCHLIST.provider,
            provider_options=WATCHLIST.provider_options,
            pool="tradingview" if WATCHLIST.provider == "tradingview" else "default_pool",
            outlets=[bars_asset(spec.timeframe.name)],
        ).expand(symbol=list_symbols())

    return ohlcv()


for _spec in watchlist.dag_specs(WATCHLIST):
    ohlcv_dag(_spec)
