"""What every Candleflow DAG shares: its owner, its retries and where its schedule starts.

Why one place: every DAG retries (an error no retry can fix fails at once instead, see
``candleflow.airflow.failures``), owned by ``candleflow``, mostly with exponential backoff;
a DAG says only how often it retries and how long it first waits, so two DAGs that mean the
same policy cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

#: The operational DAGs' start: they keep the present fresh and have no history to reach.
OPS_START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
#: The bar DAGs' start: backfills may reach back this far; scheduling does not.
HISTORY_START = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def default_args(
    retries: int = 2,
    delay: dt.timedelta = dt.timedelta(seconds=30),
    *,
    backoff: bool = True,
    max_delay: dt.timedelta | None = None,
) -> dict[str, Any]:
    """A DAG's ``default_args``: ``retries`` tries more, ``delay`` apart, doubling with
    ``backoff`` up to ``max_delay`` (Airflow's own cap when None)."""
    args: dict[str, Any] = {"owner": "candleflow", "retries": retries, "retry_delay": delay}
    if backoff:
        args["retry_exponential_backoff"] = True
    if max_delay is not None:
        args["max_retry_delay"] = max_delay
    return args


#: The bar loads (``ohlcv_<tf>`` and its history): a provider's bad minute is worth waiting out.
BAR_LOAD_ARGS = default_args(3, max_delay=dt.timedelta(minutes=10))
