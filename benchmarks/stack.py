"""Drive a real ``candleflow up`` stack through its REST API (for ``bench_stack``).

The stack itself is the package's one (``candleflow.testing.soak.stack``: ``running`` and
``Stack``, what the soak drives too): its own ``CANDLEFLOW_HOME`` (own embedded server and
Airflow metadata), a free port, the watchlist and the replay server given through the
environment; ``Stack.api``/``post`` speak to the api-server with a token; leaving the block
stops everything it started (Ctrl-C, then the embedded server) and removes the folder. This
adds what the benchmarks wait for and the soak does not: one run's end. Not a benchmark.
"""

from __future__ import annotations

import time

from candleflow.testing.soak.stack import Stack, running

__all__ = ["Stack", "running", "wait_run"]


def wait_run(cf: Stack, dag_id: str, run_id: str, timeout: float = 1800) -> dict:
    """The run once it has ended (success or failed), polled every half second."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = cf.api(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
        if run["state"] in ("success", "failed"):
            return run
        time.sleep(0.5)
    raise SystemExit(f"{dag_id} {run_id} not done within {timeout}s")
