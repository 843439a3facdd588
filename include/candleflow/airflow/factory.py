"""``watchlist_dags``: every Candleflow DAG from one watchlist, for a two-line DAG file.

Why a factory: a data engineer who already runs Airflow installs the wheel and writes

    from candleflow.airflow import watchlist_dags
    globals().update(watchlist_dags("watchlist.toml"))

in their DAGs folder, instead of copying this repository's DAG files and keeping them in step
with the package. The result maps DAG id -> DAG: ``ohlcv_<tf>`` and ``ohlcv_<tf>_history``
per watchlist timeframe and the maintenance DAGs (``instruments_sync``, ``bars_rollup``,
``ticks_capture``, ``freshness_check``, ``warehouse_healthcheck``, ``export_parquet``), with
the ids, params and pause defaults this repository's ``dags/`` has always had (its one DAG
file is these two lines). Parsing stays cheap: only the watchlist file is read, nothing is
connected to, and the heavy imports wait inside the tasks.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from candleflow import watchlist as watchlists

# the modules of candleflow.airflow.dags, in the order their DAGs are built
MODULES = (
    "ohlcv",
    "ohlcv_history",
    "instruments_sync",
    "bars_rollup",
    "ticks_capture",
    "freshness_check",
    "warehouse_healthcheck",
    "export_parquet",
)


def resolve_path(path: str | Path | None, dag_file: str | None) -> Path | None:
    """``path`` as given if absolute, else relative to the folder of the calling DAG file (the
    working directory of a dag-processor is no guide); None stays None (the environment's
    ``CANDLEFLOW_WATCHLIST``, else the packaged watchlist)."""
    if path is None:
        return None
    path = Path(path).expanduser()
    if path.is_absolute() or not dag_file:
        return path
    return Path(dag_file).resolve().parent / path


def watchlist_dags(
    path: str | Path | None = None, *, exclude: tuple[str, ...] = ()
) -> dict[str, Any]:
    """DAG id -> DAG for the watchlist at ``path`` (see ``resolve_path``).

    ``exclude`` leaves out DAG ids (``("ticks_capture",)`` where no one streams ticks). A bad
    watchlist raises ``ConfigError`` naming the file and the entry: the DAG file shows it
    as its import error.
    """
    import importlib

    caller = sys._getframe(1).f_globals.get("__file__")
    wl = watchlists.load(resolve_path(path, caller))
    dags: dict[str, Any] = {}
    for name in MODULES:
        built = importlib.import_module(f"candleflow.airflow.dags.{name}").build(wl)
        for dag in built if isinstance(built, list) else [built]:
            if dag.dag_id not in exclude:
                dags[dag.dag_id] = dag
    return dags
