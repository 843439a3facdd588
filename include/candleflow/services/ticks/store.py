"""The one write path of ticks: screen (``candleflow.validation.ticks``), store, record the rejects.

Used by ``candleflow ticks import`` (``imports``) and the stream collector
(``collector``). A tick that fails a rule goes to ``candleflow.rejected_ticks`` with every
rule it failed and its raw values; nothing is dropped silently.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from psycopg2 import sql
from psycopg2.errors import UniqueViolation

from candleflow.db.bulk import TICK_COLUMNS, copy_frame
from candleflow.db.ticks_load import insert_ticks, lock_instruments
from candleflow.validation.ticks import TickRules, rule_failures, write_rejected

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

_TICKS = sql.Identifier("candleflow", "ticks")


@dataclass(frozen=True)
class StoreResult:
    """Counts of one ``store_ticks`` call; received = inserted + duplicates + rejected."""

    received: int
    inserted: int
    duplicates: int
    rejected: int


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
