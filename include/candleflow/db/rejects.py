"""The one writer of ``rejected_bars`` and ``rejected_ticks``: nothing is dropped silently.

Validation decides what is rejected and why (``candleflow.validation``); this stores it,
idempotently. Each table has a natural key (migration 0007): a retried or cleared run, or a
re-imported file, finds its rejected rows already there and updates their ``rules``,
``run_id`` and ``rejected_at`` (the last run that saw them) instead of appending copies.
A rejected bar is keyed by symbol, timeframe, ts, raw values, provider and load window; a
rejected tick by symbol, ts and raw values (its seq among them).

Both functions run in the caller's transaction (the sync service writes rejects, bars and
the audit row in one) and never commit.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from typing import TYPE_CHECKING, Any

from psycopg2.extras import Json, execute_values

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

_BARS = """
INSERT INTO candleflow.rejected_bars AS r
    (run_id, instrument_id, symbol, timeframe, ts, rules, raw, provider, window_start, window_end)
VALUES %s
ON CONFLICT ON CONSTRAINT rejected_bars_natural_key DO UPDATE
    SET run_id = EXCLUDED.run_id, rules = EXCLUDED.rules, rejected_at = now(),
        instrument_id = COALESCE(EXCLUDED.instrument_id, r.instrument_id)
"""
_TICKS = """
INSERT INTO candleflow.rejected_ticks AS r (run_id, instrument_id, symbol, ts, rules, raw)
VALUES %s
ON CONFLICT ON CONSTRAINT rejected_ticks_natural_key DO UPDATE
    SET run_id = EXCLUDED.run_id, rules = EXCLUDED.rules, rejected_at = now()
"""


def write_rejected_bars(
    conn,
    rejected: pd.DataFrame,
    *,
    instrument_id: int | None,
    symbol: str,
    timeframe: str,
    run_id: str,
    provider: str,
    window: tuple[dt.datetime, dt.datetime],
) -> int:
    """Store one row per rejected bar (``ValidationResult.rejected``: ts, rules, raw).

    ``ts`` is NULL for a bar whose timestamp was missing; ``rules`` lists every rule the bar
    broke and ``raw`` keeps its values as received. The key is what was rejected and where:
    symbol, timeframe, ts, raw values, ``provider`` (the provider's name) and ``window`` (the
    ``(start, end)`` of the load that saw the bar, as in its ``load_audit`` row), so the same
    bad bar seen by two windows is kept once per window and a retry of one window updates its
    rows. Both are required: a row without them would share a key with unrelated loads.
    Returns the rows offered (new or already there).
    """
    import pandas as pd

    if rejected.empty:
        return 0
    if not {"ts", "rules", "raw"} <= set(rejected.columns):
        raise ValueError(
            f"rejected frame needs columns ts, rules, raw; got {', '.join(rejected.columns)}"
        )
    if not provider:
        raise ValueError(f"rejected bars of {symbol} {timeframe}: provider is required")
    start, end = window
    rows = {}
    for ts, rules, raw in zip(rejected["ts"], rejected["rules"], rejected["raw"], strict=True):
        ts = None if pd.isna(ts) else ts.to_pydatetime()
        row = (run_id, instrument_id, symbol, timeframe, ts, list(rules), Json(raw))
        # one row per key in a statement: ON CONFLICT cannot touch a row twice
        rows[(ts, json.dumps(raw, sort_keys=True, default=str))] = (*row, provider, start, end)
    with conn.cursor() as cur:
        execute_values(cur, _BARS, list(rows.values()), page_size=1000)
    log.info(
        "recorded %d rejected bars of %s %s (run %s)", len(rejected), symbol, timeframe, run_id
    )
    return len(rejected)


def write_rejected_ticks(
    conn, instrument_id: int, symbol: str, rows: pd.DataFrame, rules: pd.Series, *, run_id: str
) -> int:
    """Store ``rows`` (tick columns as received) with their failed ``rules`` (same index).

    A ``raw_ts`` column, where present, holds the timestamp as received for rows whose
    ``ts`` could not be represented (rule ``bad_ts``): it replaces ``ts`` in ``raw``, as text,
    and the stored ``ts`` is NULL. So does a ``ts`` that pandas holds but a Python datetime
    cannot (a year past 9999). An ``unparsed`` column (``{column: text}``) puts the text of
    values that were no number back into ``raw`` (rule ``not_a_number``).
    """
    if rows.empty:
        return 0
    records = {}
    for idx, row in rows.iterrows():
        raw = {k: _jsonable(v) for k, v in row.items() if k not in ("raw_ts", "unparsed")}
        raw_ts, unparsed = row.get("raw_ts"), row.get("unparsed")
        if isinstance(unparsed, dict):
            raw.update(unparsed)
        ts = _datetime(row["ts"])
        if _present(raw_ts):
            raw["ts"] = str(raw_ts)
        elif ts is None and _present(row["ts"]):
            raw["ts"] = str(row["ts"])
        text = json.dumps(raw, sort_keys=True)
        records[(ts, text)] = (run_id, instrument_id, symbol, ts, list(rules.at[idx]), text)
    with conn.cursor() as cur:
        execute_values(
            cur, _TICKS, list(records.values()), template="(%s, %s, %s, %s, %s::text[], %s::jsonb)"
        )
    log.warning("ticks %s: %d rejected (run %s)", symbol, len(rows), run_id)
    return len(rows)


def _datetime(value: Any) -> dt.datetime | None:
    """``value`` as a datetime, or None when missing or beyond the years 1..9999."""
    if not _present(value):
        return None
    try:
        return value.to_pydatetime()
    except (ValueError, OverflowError):
        return None


def _present(value: Any) -> bool:
    import pandas as pd

    return value is not None and not pd.isna(value)


def _jsonable(value: Any) -> Any:
    import numpy as np

    if not _present(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value
