"""The only Airflow-aware part of Candleflow: operators, hooks, timetables, the DAG factory.

Services stay importable and testable without Airflow running; these classes only map
Airflow's context (run id, data interval, params, connections) onto service calls.
``watchlist_dags`` is imported on first use, so that importing a submodule (the CLI's
``candleflow.airflow.connections``) does not pay for the Airflow SDK.
"""

from __future__ import annotations

from typing import Any

__all__ = ["watchlist_dags"]


def __getattr__(name: str) -> Any:
    if name == "watchlist_dags":
        from candleflow.airflow.factory import watchlist_dags

        return watchlist_dags
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
