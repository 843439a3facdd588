"""Warehouse health check, hourly.

Checks that the warehouse answers and that its schema is at the version the deployed code
expects, and records each result in ``candleflow.health_checks``. It fails loudly so that a
broken warehouse shows up here first rather than as obscure failures in the data DAGs: an
unreachable database is retried twice (often a passing fault), a schema at the wrong version
fails at once (no retry fixes it; run ``candleflow db migrate``). The warehouse is the one the
data DAGs use: the ``candleflow_warehouse`` connection, else ``CANDLEFLOW_DATABASE_URL``, else
the embedded server. Once the check passes, the months of bars that closed more than
``CANDLEFLOW_COMPRESS_AFTER`` ago (default 2mo) are compressed (what ``candleflow db
compress`` does; one transaction per segment, so a re-run only compresses what is left). A
re-run only adds another health record. Runs are independent: no catch-up.
"""

from __future__ import annotations

from airflow.sdk import DAG, dag, task

from candleflow import watchlist
from candleflow.airflow.dags.defaults import OPS_START, default_args
from candleflow.airflow.failures import fails_permanently

DEFAULT_ARGS = default_args()


def build(wl: watchlist.Watchlist) -> DAG:
    """The ``warehouse_healthcheck`` DAG (wiring only; the work is in candleflow.services)."""

    @dag(
        schedule="@hourly",
        start_date=OPS_START,
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["candleflow", "ops"],
        is_paused_upon_creation=False,
        doc_md=__doc__,
    )
    def warehouse_healthcheck():
        @task
        @fails_permanently
        def check_warehouse(run_id: str | None = None) -> dict:
            from candleflow.airflow.connections import warehouse_url
            from candleflow.services.health import check_warehouse

            return check_warehouse(warehouse_url(), run_id=run_id)

        @task
        def compress_closed_months() -> dict:
            from candleflow.airflow.connections import warehouse_url
            from candleflow.db.compaction import compress_closed

            return compress_closed(warehouse_url())

        check_warehouse() >> compress_closed_months()

    return warehouse_healthcheck()
