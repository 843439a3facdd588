"""The one write path of ticks: screen (``validation.ticks``), store (``db.ticks``), and record
the rejects (``db.rejects``), in the caller's transaction.

Used by ``candleflow ticks import`` (``imports``) and the stream collector (``collector``).
A tick that fails a rule goes to ``candleflow.rejected_ticks`` with every rule it failed and
its raw values; nothing is dropped silently, and a bad row never fails its batch.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from candleflow.db.rejects import write_rejected_ticks
from candleflow.db.ticks import insert_ticks
from candleflow.validation.ticks import TickRules, rule_failures

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoreResult:
    """Counts of one store call; received = inserted + duplicates + rejected."""

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
    live: bool = False,
) -> StoreResult:
    """Validate ``frame`` (``TICK_COLUMNS`` + ``seq``), insert the valid ticks, record the
    rejects. ``live`` (the stream) applies the ``late`` rule; an import never does."""
    frame = frame.assign(instrument_id=np.int64(instrument_id))
    return store_tick_batch(
        conn,
        frame,
        {instrument_id: symbol},
        run_id=run_id,
        source=source,
        rules=rules,
        now=now,
        live=live,
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
    live: bool = False,
) -> StoreResult:
    """``store_ticks`` for ticks of several instruments (an ``instrument_id`` column, named
    by ``symbols``): one COPY whatever the number of instruments, which keeps the
    collector's per-flush cost flat as symbols are added. An optional ``raw_ts`` column
    carries the received timestamp of rows whose ``ts`` is not representable (``bad_ts``)."""
    rules = rules or TickRules()
    now = now or dt.datetime.now(dt.UTC)
    failures = rule_failures(
        frame, now=now, rules=rules, live=live, earliest=_floors(frame, symbols, rules)
    )
    bad = failures.map(bool).to_numpy(dtype=bool)
    valid = frame[~bad] if bad.any() else frame
    extra = [c for c in ("raw_ts", "unparsed") if c in valid.columns]
    if extra:
        valid = valid.drop(columns=extra)
    inserted, duplicates = insert_ticks(conn, None, valid, run_id=run_id, source=source)
    if bad.any():
        for iid, rows in frame[bad].groupby("instrument_id", sort=False):
            raw = rows.drop(columns="instrument_id")
            write_rejected_ticks(conn, int(iid), symbols[iid], raw, failures, run_id=run_id)
    result = StoreResult(len(frame), inserted, duplicates, int(bad.sum()))
    log.debug(
        "ticks %s: %d received, %d inserted, %d duplicates, %d rejected",
        ",".join(symbols.values()),
        result.received,
        result.inserted,
        result.duplicates,
        result.rejected,
    )
    return result


def _floors(frame: pd.DataFrame, symbols: Mapping[int, str], rules: TickRules):
    """Each row's plausible floor: its instrument's (one value when all rows share it)."""
    import pandas as pd

    floors = {iid: pd.Timestamp(rules.floor(symbol)) for iid, symbol in symbols.items()}
    if len(set(floors.values())) == 1:
        return next(iter(floors.values()))
    return frame["instrument_id"].map(floors)
