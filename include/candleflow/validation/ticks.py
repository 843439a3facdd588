"""Tick validation: the rules a tick must pass, and the record of those that fail.

A tick that fails a rule goes to ``candleflow.rejected_ticks`` with every
rule it failed and its raw values; nothing is dropped silently. The rules:

- ``missing_ts``: no timestamp.
- ``nan``: no price, bid or ask at all, or a value that is not finite (NaN/inf where a
  number was sent; a missing price on a quote-only tick is fine, it is stored as NULL).
- ``non_positive_price``: price <= 0.
- ``negative_size``: size or day_volume < 0.
- ``future``: ts after ``now + max_future`` (default 1 day): a clock or unit error.
- ``late``: ts before the instrument's rollup watermark minus the lookback (default 1 day),
  and not already stored. Later ones are accepted and revise their bars at the next
  rollup; older bars are final. A tick already stored is a duplicate, never ``late``, so
  re-importing a file inserts nothing and rejects nothing new.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from candleflow.managers.bar_manager import DEFAULT_LOOKBACK

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

DEFAULT_MAX_FUTURE = dt.timedelta(days=1)
VALUE_COLUMNS = ("price", "size", "day_volume", "bid", "ask")


@dataclass(frozen=True)
class TickRules:
    """The configurable limits of tick validation."""

    max_future: dt.timedelta = DEFAULT_MAX_FUTURE
    lookback: dt.timedelta = DEFAULT_LOOKBACK


def assign_seq(frame: pd.DataFrame) -> pd.DataFrame:
    """``seq`` = 0, 1, 2... among ticks sharing a ``ts``, in file order.

    Files carry no sequence number but often several trades per millisecond; numbering
    them in file order (the readers sort stably by ts) makes ``(ts, seq)`` a key that is
    the same on every import of the file, so a re-import finds only duplicates.
    """
    return frame.assign(seq=frame.groupby("ts", sort=False).cumcount().astype("int64"))


def rule_failures(frame: pd.DataFrame, *, now: dt.datetime, rules: TickRules) -> pd.Series:
    """Per row, the list of failed rules (empty when valid); stateless rules only."""
    import pandas as pd

    values = {c: frame[c].astype("float64") if c in frame else None for c in VALUE_COLUMNS}
    n = len(frame)
    none = pd.Series(False, index=frame.index)
    checks: dict[str, pd.Series] = {"missing_ts": frame["ts"].isna()}
    quoted = [values[c].notna() for c in ("price", "bid", "ask") if values[c] is not None]
    no_value = ~np.logical_or.reduce(quoted) if quoted else pd.Series(True, index=frame.index)
    infinite = none.copy()
    for col in values.values():
        if col is not None:
            infinite |= np.isinf(col)
    checks["nan"] = pd.Series(no_value, index=frame.index) | infinite
    price = values["price"]
    checks["non_positive_price"] = (price <= 0) if price is not None else none
    negative = none.copy()
    for name in ("size", "day_volume"):
        if values[name] is not None:
            negative |= values[name] < 0
    checks["negative_size"] = negative
    checks["future"] = frame["ts"] > (now + rules.max_future)
    failed = pd.DataFrame(checks).fillna(False).astype(bool).to_numpy()
    names = np.array(list(checks))
    out = pd.Series([[]] * n, index=frame.index, dtype=object)
    for i in np.flatnonzero(failed.any(axis=1)):  # usually none: no per-row work
        out.iat[i] = list(names[failed[i]])
    return out


def write_rejected(
    conn, instrument_id: int, symbol: str, rows: pd.DataFrame, failures, *, run_id: str
) -> int:
    """Insert ``rows`` into ``rejected_ticks`` with their failed rules and raw values."""
    if rows.empty:
        return 0
    from psycopg2.extras import execute_values

    records = []
    for idx, row in rows.iterrows():
        raw = {k: _jsonable(v) for k, v in row.items()}
        ts = row["ts"].to_pydatetime() if _present(row["ts"]) else None
        records.append((run_id, instrument_id, symbol, ts, failures.at[idx], json.dumps(raw)))
    with conn.cursor() as cur:
        execute_values(
            cur,
            "INSERT INTO candleflow.rejected_ticks"
            " (run_id, instrument_id, symbol, ts, rules, raw) VALUES %s",
            records,
            template="(%s, %s, %s, %s, %s::text[], %s::jsonb)",
        )
    log.warning("ticks %s: %d rejected (run %s)", symbol, len(records), run_id)
    return len(records)


def _present(value: object) -> bool:
    import pandas as pd

    return value is not None and not pd.isna(value)


def _jsonable(value: object) -> object:
    if not _present(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value
