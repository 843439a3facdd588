"""Which warehouse the HTTP API reads: the one policy of every front door.

The ``candleflow_warehouse`` Airflow connection first (any secrets backend: the api-server
reads connections from its metadata database too), else ``CANDLEFLOW_DATABASE_URL``, else
the embedded server (``candleflow.airflow.connections``). Routes read through
``candleflow.query`` without a URL of their own; the query layer never imports Airflow, so
the API installs the policy into the query pool once per process, on one of its own threads
before its first read (the pool's import pulls in pandas: never on the event loop, never in
the other Airflow processes that import the plugin).
"""

from __future__ import annotations

import threading

_installed = threading.Event()


def install() -> None:
    """Make ``candleflow.query`` resolve the warehouse under the one policy (idempotent)."""
    if _installed.is_set():
        return
    from candleflow.airflow.connections import warehouse_url
    from candleflow.query import pool

    pool.use_resolver(warehouse_url)
    _installed.set()
