"""Tick validation and the one write path of ticks: screen, store, record the rejects.

Used by ``candleflow ticks import`` (``tick_import``) and the stream collector
(``collector``). A tick that fails a rule goes to ``candleflow.rejected_ticks`` with every
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
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from psycopg2 import sql
from psycopg2.errors import UniqueViolation

from candleflow.db.bulk import TICK_COLUMNS, copy_frame
from candleflow.db.ticks_load import insert_ticks, lock_instruments
from candleflow.managers.bar_manager import DEFAULT_LOOKBACK

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

DEFAULT_MAX_FUTURE = dt.timedelta(days=1)
VALUE_COLUMNS = ("price", "size", "day_volume", "bid", "ask")
_TICKS = sql.Identifier("candleflow", "ticks")


@dataclass(frozen=True)
class TickRules:
    """The configurable limits of tick validation."""

    max_future: dt.timedelta = DEFAULT_MAX_FUTURE
    lookback: dt.timedelta = DEFAULT_LOOKBACK


@dataclass(frozen=True)
class StoreResult:
    """Counts of one ``store_ticks`` call; received = inserted + duplicates + rejected."""

    received: int
    inserted: int
    duplicates: int
    rejected: int


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


def store_ticks(
    conn,
    instrument_id: int,
    symbol: str,
    frame: pd.DataFrame,
    *,
    run_id: str,
    source: str = "provider",
    rules: TickRules | None = None,
    now: dt.datetime | None = None,
) -> StoreResult:
    """Validate ``frame`` (``TICK_COLUMNS`` + ``seq``), insert the valid ticks through the
    bulk path, and record the rejects; in the caller's transaction."""
    frame = frame.assign(instrument_id=np.int64(instrument_id))
    return store_tick_batch(
        conn, frame, {instrument_id: symbol}, run_id=run_id, source=source, rules=rules, now=now
    )


def store_tick_batch(
    conn,
    frame: pd.DataFrame,
    symbols: Mapping[int, str],
    *,
    run_id: str,
    source: str = "provider",
    rules: TickRules | None = None,
    now: dt.datetime | None = None,
) -> StoreResult:
    """``store_ticks`` for ticks of several instruments (an ``instrument_id`` column, named
    by ``symbols``): one COPY and one INSERT whatever the number of instruments, which keeps
    the collector's per-flush cost flat as symbols are added."""
    rules = rules or TickRules()
    now = now or dt.datetime.now(dt.UTC)
    failures = rule_failures(frame, now=now, rules=rules)
    bad = failures.map(bool).to_numpy(dtype=bool)
    valid = frame[~bad] if bad.any() else frame
    late, stored = _late(conn, valid, rules.lookback)
    for idx in late:
        failures.at[idx] = ["late"]
    rejected_idx = list(frame.index[bad]) + list(late)
    keep = valid.drop(index=list(late) + list(stored)) if late or stored else valid
    inserted, duplicates = _insert(conn, keep, run_id=run_id, source=source)
    rejected = frame.loc[rejected_idx]
    for iid, rows in rejected.groupby("instrument_id", sort=False):
        raw = rows.drop(columns="instrument_id")
        write_rejected(conn, int(iid), symbols[iid], raw, failures, run_id=run_id)
    result = StoreResult(len(frame), inserted, duplicates + len(stored), len(rejected_idx))
    log.debug(
        "ticks %s: %d received, %d inserted, %d duplicates, %d rejected",
        ",".join(symbols.values()),
        result.received,
        result.inserted,
        result.duplicates,
        result.rejected,
    )
    return result


def _insert(conn, frame: pd.DataFrame, *, run_id: str, source: str) -> tuple[int, int]:
    """COPY straight into ``ticks``; if a key is already stored, the staged ``ON CONFLICT``
    insert instead. Why: new ticks are the rule (the collector's keys never repeat), and the
    direct COPY skips the staging table, costing the server ~30% less per tick; a batch
    with a duplicate pays the failed COPY once and then is counted exactly."""
    if frame.empty:
        return 0, 0
    lock_instruments(conn, frame["instrument_id"].unique())
    with conn.cursor() as cur:
        cur.execute("SAVEPOINT cf_ticks_copy")
    try:
        columns = {"instrument_id": "int4", **TICK_COLUMNS}
        constants = {"source": source, "run_id": run_id}
        inserted = copy_frame(conn, _TICKS, frame, columns, constants)
    except UniqueViolation:
        with conn.cursor() as cur:
            cur.execute("ROLLBACK TO SAVEPOINT cf_ticks_copy")
        return insert_ticks(conn, None, frame, run_id=run_id, source=source)
    with conn.cursor() as cur:
        cur.execute("RELEASE SAVEPOINT cf_ticks_copy")
    log.info("ticks batch: %d inserted, 0 duplicates", inserted)
    return inserted, 0


def _late(conn, valid: pd.DataFrame, lookback: dt.timedelta):
    """(index of late ticks, index of already-stored old ticks) of ``valid``."""
    import pandas as pd

    if valid.empty:
        return [], []
    ids = [int(i) for i in valid["instrument_id"].unique()]
    with conn.cursor() as cur:
        cur.execute(
            "SELECT instrument_id, rolled_until FROM candleflow.rollup_state"
            " WHERE instrument_id = ANY(%s)",
            (ids,),
        )
        cutoffs = {iid: pd.Timestamp(until - lookback) for iid, until in cur.fetchall()}
        if not cutoffs:
            return [], []
        cutoff = pd.to_datetime(valid["instrument_id"].map(cutoffs), utc=True)
        old = valid[valid["ts"] < cutoff]
        if old.empty:
            return [], []
        cur.execute(
            "SELECT k.i FROM unnest(%s::bigint[], %s::timestamptz[], %s::bigint[], %s::int[])"
            " AS k(iid, ts, seq, i) JOIN candleflow.ticks t"
            " ON t.instrument_id = k.iid AND t.ts = k.ts AND t.seq = k.seq",
            (
                [int(i) for i in old["instrument_id"]],
                [ts.to_pydatetime() for ts in old["ts"]],
                [int(s) for s in old["seq"]],
                list(range(len(old))),
            ),
        )
        found = {i for (i,) in cur.fetchall()}
    stored = [old.index[i] for i in sorted(found)]
    late = [idx for i, idx in enumerate(old.index) if i not in found]
    return late, stored


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
