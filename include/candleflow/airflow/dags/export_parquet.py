"""Export bars to Parquet (Hive partitions by symbol and month), daily; paused until enabled.

Each run writes the bars of its data interval (the previous UTC day, due an hour after it
ends, so that late loads of the day are in) for every active instrument, or the ``symbols``
param, at ``timeframe`` (1m by default) under ``out`` (default ``$CANDLEFLOW_EXPORT_DIR``,
else ``lake/`` in the Candleflow home). The files equal ``candleflow.query.bars`` for the
window (``adjustment`` as there). A re-run rewrites the same files; a backfill of many days
fills each day's part of its month file and keeps the rest, so a month converges to the
whole month whatever the order of runs. Manual runs may give ``start``/``end`` (ISO-8601)
to export any window. A bad param (an unknown symbol) fails at once, without retries.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG, Param, dag, task

from candleflow import watchlist
from candleflow.airflow.dags.defaults import OPS_START, default_args
from candleflow.airflow.failures import fails_permanently
from candleflow.airflow.timetables import SettledIntervalTimetable
from candleflow.domain import SYMBOL_ITEMS

DEFAULT_ARGS = default_args(delay=dt.timedelta(minutes=1))


def build(wl: watchlist.Watchlist) -> DAG:
    """The ``export_parquet`` DAG (wiring only; the work is in candleflow.services)."""

    @dag(
        schedule=SettledIntervalTimetable(dt.timedelta(days=1), settle=dt.timedelta(hours=1)),
        start_date=OPS_START,
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["candleflow", "export"],
        params={
            "symbols": Param(  # "null" in the type: the Trigger form does not require it
                [],
                type=["null", "array"],
                items=SYMBOL_ITEMS,
                description="Only these symbols; empty = all active",
            ),
            "timeframe": Param("1m", type="string", description="Timeframe to export"),
            "start": Param(None, type=["null", "string"], description="From (ISO-8601)"),
            "end": Param(None, type=["null", "string"], description="Until, exclusive (ISO-8601)"),
            "out": Param(None, type=["null", "string"], description="Folder of the Parquet lake"),
            "adjustment": Param(
                None,
                type=["null", "string"],
                enum=[None, "raw", "splits", "total_return"],
                description="Price adjustment (empty: splits, the default of every read)",
            ),
        },
        is_paused_upon_creation=True,
        doc_md=__doc__,
    )
    def export_parquet():
        @task
        @fails_permanently
        def export_bars(
            params: dict | None = None,
            data_interval_start: dt.datetime | None = None,
            data_interval_end: dt.datetime | None = None,
        ) -> dict:
            from candleflow.airflow.connections import warehouse_url
            from candleflow.query.export import scheduled_export

            return scheduled_export(
                params or {}, data_interval_start, data_interval_end, url=warehouse_url()
            )

        export_bars()

    return export_parquet()
