"""Freshness of the loaded bars, hourly.

Compares each watchlist series' newest bar with the newest bar its exchange calendar says
should be loaded by now (holidays and weekends are not gaps), records the result in
``candleflow.freshness_checks`` (BI tools read ``analytics.freshness_checks``), and fails
when a series is stale and ``on_stale`` is ``fail`` (the default), so the failure alerts
like any other. A re-run only adds another check. A series never loaded is skipped
(backfill it first). It runs from the start (not paused when first parsed): a first check
as soon as the DAG is parsed, then every hour, so ``analytics.freshness_checks`` answers
"what is stale right now".
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG, Param, dag, task

from candleflow import watchlist
from candleflow.airflow.dags.defaults import OPS_START, default_args
from candleflow.airflow.failures import fails_permanently

DEFAULT_ARGS = default_args(delay=dt.timedelta(minutes=1), backoff=False)


def build(wl: watchlist.Watchlist) -> DAG:
    """The ``freshness_check`` DAG (wiring only; the work is in candleflow.services)."""

    @dag(
        schedule="@hourly",
        start_date=OPS_START,
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["candleflow", "ops", "freshness"],
        is_paused_upon_creation=False,  # reads the warehouse only; checks loaded series
        params={"on_stale": Param("fail", enum=["fail", "warn"], description="Fail or only warn")},
        doc_md=__doc__,
    )
    def freshness_check():
        @task
        @fails_permanently
        def check_freshness(run_id: str | None = None, params: dict | None = None) -> dict:
            from candleflow.airflow import metrics
            from candleflow.airflow.connections import warehouse_url
            from candleflow.services.freshness import check_freshness

            return check_freshness(
                url=warehouse_url(),
                run_id=run_id,
                on_stale=(params or {}).get("on_stale", "fail"),
                report_lag=metrics.freshness_lag,
            )

        check_freshness()

    return freshness_check()
