"""Warehouse health check, hourly.

Checks that the warehouse answers and that its schema is at the version the deployed code
expects, and records each result in ``candleflow.health_checks``. It fails loudly so that a
broken warehouse shows up here first rather than as obscure failures in the data DAGs: an
unreachable database is retried twice (often a passing fault), a schema at the wrong version
fails at once (no retry fixes it; run ``candleflow db migrate``). The warehouse is the one the
data DAGs use: the ``candleflow_warehouse`` connection, else ``CANDLEFLOW_DATABASE_URL``, else
the embedded server. Before the check, the bar and tick partitions of the current month and
``CANDLEFLOW_PARTITIONS_AHEAD`` months (default 3) are created and rows that reached a DEFAULT
partition (a backfill of old history) are moved into partitions of their own
(``candleflow.db.partitions``, what ``candleflow db partitions`` does); the check then fails
if a DEFAULT partition still holds rows, and runs (and records its result) even when that
maintenance failed. Once the check passes, the months of bars that closed more than
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
        def maintain_partitions() -> dict:
            from candleflow.airflow.connections import warehouse_url
            from candleflow.db.partitions import maintain_url

            return maintain_url(warehouse_url())

        @task(trigger_rule="all_done")
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

        maintain_partitions() >> check_warehouse() >> compress_closed_months()

    return warehouse_healthcheck()
