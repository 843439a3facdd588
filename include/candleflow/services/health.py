"""The warehouse health check behind the ``warehouse_healthcheck`` DAG.

It proves the two things every other DAG assumes: the warehouse answers, and its schema
is at the version this code was written for; and that no bar or tick sits in a DEFAULT
partition (migration 0022: rows there mean a partition is missing, which the maintenance of
``candleflow.db.partitions`` should have created). Each check is recorded in
``candleflow.health_checks`` when the database can take the write; a failed check raises,
so the task fails loudly instead of the data DAGs failing obscurely later.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

from candleflow.db import checks, connection, migrate, partitions
from candleflow.errors import MigrationError, WarehouseUnhealthy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HealthResult:
    ok: bool
    schema_version: int | None
    expected_version: int
    detail: str

    def as_dict(self) -> dict:
        return asdict(self)


def check_warehouse(url: str, *, run_id: str | None = None) -> dict:
    """Check reachability and schema version, record the result, raise when unhealthy.

    ``url`` is required: the caller resolved it (a DAG task through
    ``candleflow.airflow.connections``), so the check looks at the warehouse the loads use.
    """
    expected = migrate.latest_version()
    conn = connection.connect(url)  # DatabaseUnavailable (transient) propagates: retried
    try:
        version = migrate.current_version(conn)
        ok = version == expected
        if version is None:
            detail = "warehouse was never migrated; run `candleflow db migrate`"
        elif version < expected:
            detail = (
                f"schema at version {version}, code expects {expected}; run `candleflow db migrate`"
            )
        elif version > expected:
            detail = f"schema at version {version} is newer than this code ({expected}); deploy it"
        else:
            detail = f"reachable, schema at version {version}"
            with conn:
                stray = partitions.default_rows(conn)
                absent = partitions.missing(conn)
            if absent:
                ok = False
                detail = (
                    f"no partition for the current period: {', '.join(absent)}; run "
                    "`candleflow db partitions`"
                )
            elif stray:
                ok = False
                detail = (
                    f"{sum(stray.values())} rows in DEFAULT partitions ("
                    + ", ".join(f"{name}: {rows}" for name, rows in stray.items())
                    + "): a partition is missing; run `candleflow db partitions`"
                )
        result = HealthResult(ok, version, expected, detail)
        if version is not None:
            checks.record_health(
                conn, ok=ok, version=version, expected=expected, detail=detail, run_id=run_id
            )
    finally:
        conn.close()
    log.info("warehouse health: ok=%s version=%s expected=%s (%s)", ok, version, expected, detail)
    if not ok:
        raise (MigrationError if version != expected else WarehouseUnhealthy)(detail)
    return result.as_dict()
