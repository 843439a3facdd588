"""The params of a bar-loading run, the same for ``ohlcv_<tf>`` and ``ohlcv_<tf>_history``.

One definition so that the Trigger form of both DAGs asks the same questions, checked the
same way (a symbol outside the watchlist, a session that does not exist).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param

from candleflow.dag_specs import DagSpec
from candleflow.watchlist import Watchlist


def run_params(spec: DagSpec, wl: Watchlist) -> dict[str, Any]:
    """``symbols`` (a subset of the DAG's), ``start``/``end`` (a window of its own),
    ``session`` and ``reject_threshold``."""
    return {
        "symbols": Param(  # "null" in the type: the Trigger form does not require it
            [],
            type=["null", "array"],
            items={"type": "string", "enum": list(spec.symbols)},
            description="Subset of the watchlist; empty = all",
        ),
        "start": Param(None, type=["null", "string"], description="Window start (ISO-8601)"),
        "end": Param(None, type=["null", "string"], description="Window end (ISO-8601)"),
        "session": Param(
            None,
            type=["null", "string"],
            enum=[None, "regular", "extended"],
            description="Series to load: empty = each symbol's watchlist session; "
            "extended = pre- and post-market too (US equities), stored apart",
        ),
        "reject_threshold": Param(wl.reject_threshold, type="number", minimum=0, maximum=1),
    }
