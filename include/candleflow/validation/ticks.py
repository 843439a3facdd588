"""Tick validation: the rules a tick must pass. This decides; ``db.rejects`` records.

A tick that fails a rule goes to ``candleflow.rejected_ticks`` with every rule it failed
and its raw values; nothing is dropped silently. The rules:

- ``missing_ts``: no timestamp.
- ``bad_ts``: a timestamp that no datetime can hold (outside the years 1..9999, or not a
  finite number): a unit error, typically milliseconds sent where seconds were expected
  (year 57140). Its raw value is kept as text in ``raw.ts``; the rest of its batch is stored.
- ``implausible_ts``: a timestamp before the instrument's earliest plausible time
  (``validation.plausible``: 2009-01-03 on crypto venues, else 1980-01-01): seconds read as
  milliseconds (January 1970), a zero or minimum date (the year 1, 1677). ``TickRules(
  earliest=...)`` sets one floor for every instrument instead.
- ``nan``: no price, bid or ask at all, or a value that is not finite (NaN/inf where a
  number was sent; a missing price on a quote-only tick is fine, it is stored as NULL).
- ``not_a_number``: a value the file holds as text that is no number (``abc``); its text is
  kept in ``raw`` (the ``unparsed`` column carries it here).
- ``non_positive_price``: price <= 0.
- ``non_positive_quote``: bid or ask <= 0.
- ``crossed_quote``: bid above a positive ask. A locked quote (bid = ask) is legal: it
  happens in real feeds (the TrueFX USD/JPY sample has one) and is a price both sides agree
  on; the strict rule keeps it.
- ``negative_size``: size or day_volume < 0.
- ``future``: ts after ``now + max_future`` (default 1 day): a clock or unit error.
- ``late`` (the live stream only): ts before ``now - late_after`` (default 7 days), a clock
  that is wrong the other way. A live tick is news; one a week old is a broken clock or a
  replayed feed. An explicit import is history and is never ``late``: any stored tick, of
  any age, revises exactly the bars it falls in (see ``candleflow.managers``). The default
  leaves room for the snapshot TradingView re-sends on subscribing, which repeats the last
  trade: days old over a long weekend. ``late_after=None`` turns the rule off.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from candleflow.validation import plausible

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

DEFAULT_MAX_FUTURE = dt.timedelta(days=1)
DEFAULT_LATE_AFTER = dt.timedelta(days=7)
VALUE_COLUMNS = ("price", "size", "day_volume", "bid", "ask")
#: The timestamps every layer can hold (Python's datetime, hence psycopg2 and the rejects).
MIN_TS_S = -62_135_596_800.0  # 0001-01-01T00:00:00Z as unix seconds
MAX_TS_S = 253_402_300_799.0  # 9999-12-31T23:59:59Z


@dataclass(frozen=True)
class TickRules:
    """The configurable limits of tick validation (see the module docstring)."""

    max_future: dt.timedelta = DEFAULT_MAX_FUTURE
    late_after: dt.timedelta | None = DEFAULT_LATE_AFTER
    earliest: dt.datetime | None = None  # None: each instrument's (validation.plausible)

    def floor(self, symbol: str) -> dt.datetime:
        """The earliest plausible tick time of ``symbol`` under these rules."""
        return self.earliest or plausible.earliest(symbol, intraday=True)

    def __post_init__(self) -> None:
        if self.max_future < dt.timedelta(0):
            raise ValueError(f"max_future must be >= 0, got {self.max_future}")
        if self.late_after is not None and self.late_after <= dt.timedelta(0):
            raise ValueError(f"late_after must be > 0 or None (off), got {self.late_after}")


def assign_seq(frame: pd.DataFrame, carry: dict | None = None) -> pd.DataFrame:
    """``seq`` = 0, 1, 2... among ticks sharing a ``ts``, in file order.

    Files carry no sequence number but often several trades per millisecond; numbering
    them in file order (the readers sort stably by ts) makes ``(ts, seq)`` a key that is
    the same on every import of the file, so a re-import finds only duplicates. Rows without
    a timestamp are numbered among themselves (they are rejected, keyed by their raw values).

    ``carry`` (``{ts: ticks already numbered}``) continues the numbering of earlier chunks of
    the same file: a group of ticks sharing a timestamp that straddles two chunks is
    numbered as if the file had been read whole.
    """
    seq = frame.groupby("ts", sort=False, dropna=False).cumcount().to_numpy(dtype="int64")
    if carry:
        seq = seq + frame["ts"].map(carry).fillna(0).to_numpy(dtype="int64")
    return frame.assign(seq=seq)


def representable(seconds: np.ndarray) -> np.ndarray:
    """Which unix-second values are timestamps (finite, years 1..9999): else ``bad_ts``."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(seconds) & (seconds >= MIN_TS_S) & (seconds <= MAX_TS_S)


def rule_failures(
    frame: pd.DataFrame,
    *,
    now: dt.datetime,
    rules: TickRules,
    live: bool = False,
    earliest: pd.Series | dt.datetime | None = None,
) -> pd.Series:
    """Per row, the list of failed rules (empty when valid); stateless rules only.

    ``frame`` has ``ts`` (UTC datetime64, NaT where missing or not representable) and the
    value columns; an optional ``raw_ts`` column (the value as received, or None) tells a
    ``bad_ts`` from a ``missing_ts``, an optional ``unparsed`` column (``{column: text}`` or
    None) marks ``not_a_number``. ``earliest`` is the plausible floor, one for all rows or
    one per row (default ``rules.earliest``, else 1980-01-01). ``live`` applies ``late``.
    """
    import pandas as pd

    values = {c: frame[c].astype("float64") if c in frame else None for c in VALUE_COLUMNS}
    none = pd.Series(False, index=frame.index)
    ts = frame["ts"]
    raw_ts = frame["raw_ts"].notna() if "raw_ts" in frame else none
    year = ts.dt.year
    out_of_range = ts.notna() & ((year < 1) | (year > 9999))
    checks: dict[str, pd.Series] = {
        "missing_ts": ts.isna() & ~raw_ts,
        "bad_ts": (ts.isna() & raw_ts) | out_of_range,
    }
    quoted = [values[c].notna() for c in ("price", "bid", "ask") if values[c] is not None]
    no_value = ~np.logical_or.reduce(quoted) if quoted else pd.Series(True, index=frame.index)
    infinite = none.copy()
    for col in values.values():
        if col is not None:
            infinite |= np.isinf(col)
    checks["nan"] = pd.Series(no_value, index=frame.index) | infinite
    unparsed = frame["unparsed"].notna() if "unparsed" in frame else none
    checks["not_a_number"] = unparsed
    price = values["price"]
    checks["non_positive_price"] = (price <= 0) if price is not None else none
    quote = none.copy()
    for name in ("bid", "ask"):
        if values[name] is not None:
            quote |= values[name] <= 0
    checks["non_positive_quote"] = quote
    bid, ask = values["bid"], values["ask"]
    crossed = (bid > ask) & (ask > 0) if bid is not None and ask is not None else none
    checks["crossed_quote"] = crossed  # a missing (0) side is non_positive_quote, not crossed
    negative = none.copy()
    for name in ("size", "day_volume"):
        if values[name] is not None:
            negative |= values[name] < 0
    checks["negative_size"] = negative
    in_range = ts.where(~out_of_range)
    floor = earliest if earliest is not None else rules.earliest or plausible.INTRADAY_SINCE
    checks["implausible_ts"] = in_range < floor
    checks["future"] = in_range > (now + rules.max_future)
    if live and rules.late_after is not None:
        checks["late"] = in_range < (now - rules.late_after)
    failed = pd.DataFrame(checks).fillna(False).astype(bool).to_numpy()
    names = list(checks)
    rows: list[list[str]] = [[]] * len(frame)  # one shared empty list: valid rows, no work
    for i in np.flatnonzero(failed.any(axis=1)).tolist():
        rows[i] = [name for name, bad in zip(names, failed[i].tolist(), strict=True) if bad]
    return pd.Series(rows, index=frame.index, dtype=object)
