"""Write rejected bars to ``candleflow.rejected_bars``: nothing is dropped silently.

The caller owns the transaction (the sync service writes rejects, bars and the audit row in
one), so this function never commits.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

_INSERT = (
    "INSERT INTO candleflow.rejected_bars"
    " (run_id, instrument_id, symbol, timeframe, ts, rules, raw) VALUES %s"
)


def record_rejects(
    conn: Any,
    rejected: pd.DataFrame,
    *,
    instrument_id: int | None,
    symbol: str,
    timeframe: str,
    run_id: str,
) -> int:
    """Insert one row per rejected bar (``ValidationResult.rejected``); returns the count.

    ``ts`` is NULL for a bar whose timestamp was missing; ``rules`` lists every rule the bar
    broke and ``raw`` keeps its values as received.
    """
    import pandas as pd
    from psycopg2.extras import Json, execute_values

    if rejected.empty:
        return 0
    if not {"ts", "rules", "raw"} <= set(rejected.columns):
        raise ValueError(
            f"rejected frame needs columns ts, rules, raw; got {', '.join(rejected.columns)}"
        )
    rows = [
        (
            run_id,
            instrument_id,
            symbol,
            timeframe,
            None if pd.isna(ts) else ts.to_pydatetime(),
            list(rules),
            Json(raw),
        )
        for ts, rules, raw in zip(rejected["ts"], rejected["rules"], rejected["raw"], strict=True)
    ]
    with conn.cursor() as cur:
        execute_values(cur, _INSERT, rows, page_size=1000)
    log.info("recorded %d rejected bars of %s %s (run %s)", len(rows), symbol, timeframe, run_id)
    return len(rows)
