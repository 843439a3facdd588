"""The bar rules as plain named checks: vectorised pandas masks, one per GX expectation.

A rule name is stable (it is stored in ``rejected_bars.rules``); a *check* is the finer unit
that one Great Expectations expectation verifies (``not_null`` is five checks, one per
column; ``in_window`` two, one per bound). ``check_masks`` returns, per check, the rows that
BREAK it, with exactly the null semantics of the matching GX expectation (GX map
expectations skip nulls, so a NaN price breaks ``not_null`` and nothing else). ``suite.py``
cross-checks the counts against GX.

The frame they read is canonical (``candleflow.frames``: µs UTC timestamps, float64 values,
identical duplicates collapsed); this module converts nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from candleflow.domain import BAR_COLUMNS, PRICE_COLUMNS
from candleflow.frames import NAT, duplicated_ts, ts_micros

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

NOT_NULL = "not_null"
HIGH_GE_MAX_OPEN_CLOSE = "high_ge_max_open_close"
LOW_LE_MIN_OPEN_CLOSE = "low_le_min_open_close"
HIGH_GE_LOW = "high_ge_low"
LOW_POSITIVE = "low_positive"
VOLUME_NON_NEGATIVE = "volume_non_negative"
UNIQUE_TS = "unique_ts"
ON_GRID = "on_grid"
IN_WINDOW = "in_window"
IN_WINDOW_START = f"{IN_WINDOW}:start"  # ts >= the window start
IN_WINDOW_END = f"{IN_WINDOW}:end"  # ts < the window end
NOT_FORMING = "not_forming"
FINITE = "finite"  # no value is +-infinity (an infinite price is also no price: not_null)
PLAUSIBLE_TS = "plausible_ts"  # not before the instrument's earliest time (validation.plausible)
PRICE_JUMP = "price_jump"

REJECT_RULES: tuple[str, ...] = (
    NOT_NULL,
    HIGH_GE_MAX_OPEN_CLOSE,
    LOW_LE_MIN_OPEN_CLOSE,
    HIGH_GE_LOW,
    LOW_POSITIVE,
    VOLUME_NON_NEGATIVE,
    UNIQUE_TS,
    ON_GRID,
    IN_WINDOW,
    NOT_FORMING,
    FINITE,
    PLAUSIBLE_TS,
)
FLAG_RULES: tuple[str, ...] = (PRICE_JUMP,)
NOT_NULL_COLUMNS: tuple[str, ...] = ("ts", *PRICE_COLUMNS)

# check name -> rule name; the GX suite has one expectation per check.
CHECKS: dict[str, str] = {
    **{f"{NOT_NULL}:{col}": NOT_NULL for col in NOT_NULL_COLUMNS},
    **{rule: rule for rule in REJECT_RULES if rule not in (NOT_NULL, IN_WINDOW)},
    IN_WINDOW_START: IN_WINDOW,
    IN_WINDOW_END: IN_WINDOW,
    PRICE_JUMP: PRICE_JUMP,
}


@dataclass(frozen=True)
class Columns:
    """A window as numpy arrays: ts in int64 us (``NAT`` = missing), prices and volume as
    float64 with +-inf as NaN (an infinite price is no price at all, and an infinite volume
    is not compared either); ``infinite`` marks the rows that had one (rule ``finite``)."""

    ts: np.ndarray
    has_ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    infinite: np.ndarray

    @property
    def prices(self) -> tuple[np.ndarray, ...]:
        return self.open, self.high, self.low, self.close


def columns(frame: pd.DataFrame) -> Columns:
    """The numpy view of a canonical frame (``frames.canonical``) that every check reads."""
    import numpy as np

    infinite = np.zeros(len(frame), dtype=bool)

    def finite(col: str) -> np.ndarray:
        values = frame[col].to_numpy(dtype="float64")
        inf = np.isinf(values)
        if not inf.any():
            return values
        infinite[inf] = True
        return np.where(inf, np.nan, values)

    ts = ts_micros(frame["ts"])
    values = [finite(c) for c in BAR_COLUMNS[1:]]
    return Columns(ts, ts != NAT, *values, infinite)


def check_masks(
    cols: Columns,
    *,
    grid_ok: np.ndarray,
    start: int,
    end: int,
    now: int,
    ends: np.ndarray,
    earliest: int,
) -> dict[str, np.ndarray]:
    """Per reject check, the rows that break it; ``start``/``end``/``now``/``earliest`` (the
    instrument's plausible floor, ``validation.plausible``) in int64 us."""
    import numpy as np

    o, h, lo, c = cols.prices
    has = cols.has_ts
    values = {"ts": ~has, "open": o, "high": h, "low": lo, "close": c}
    masks = {
        f"{NOT_NULL}:{col}": values[col] if col == "ts" else np.isnan(values[col])
        for col in NOT_NULL_COLUMNS
    }
    masks.update(
        {
            # NaN comparisons are False and np.maximum/minimum propagate NaN: a missing
            # price breaks only not_null, whichever of the four it is.
            HIGH_GE_MAX_OPEN_CLOSE: h < np.maximum(o, c),
            LOW_LE_MIN_OPEN_CLOSE: lo > np.minimum(o, c),
            HIGH_GE_LOW: h < lo,
            LOW_POSITIVE: lo <= 0,
            VOLUME_NON_NEGATIVE: cols.volume < 0,
            UNIQUE_TS: duplicated_ts(cols.ts),
            ON_GRID: ~grid_ok & has,
            IN_WINDOW_START: (cols.ts < start) & has,
            IN_WINDOW_END: (cols.ts >= end) & has,
            NOT_FORMING: (ends > now) & has,
            FINITE: cols.infinite,
            PLAUSIBLE_TS: (cols.ts < earliest) & has,
        }
    )
    return masks


def rule_masks(check: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Fold check masks into rule masks (``not_null`` is the union of its columns)."""
    import numpy as np

    rules: dict[str, np.ndarray] = {}
    for name, mask in check.items():
        rule = CHECKS[name]
        rules[rule] = mask if rule not in rules else np.logical_or(rules[rule], mask)
    return rules


def price_changes(cols: Columns, keep: np.ndarray) -> np.ndarray:
    """``close / previous close - 1`` over the rows in ``keep``, in ts order; NaN elsewhere.

    The previous close is that of the previous row that passes every reject rule, so a bad
    bar never makes its neighbours look like jumps; the first kept row has no previous bar.
    """
    import numpy as np

    changes = np.full(len(keep), np.nan)
    idx = np.flatnonzero(keep)
    if len(idx) < 2:
        return changes
    stamps = cols.ts[idx]
    order = idx if np.all(stamps[1:] >= stamps[:-1]) else idx[np.argsort(stamps, kind="stable")]
    close = cols.close[order]
    changes[order[1:]] = close[1:] / close[:-1] - 1.0
    return changes
