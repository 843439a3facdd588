"""The bar rules as plain named checks: vectorised pandas masks, one per GX expectation.

A rule name is stable (it is stored in ``rejected_bars.rules``); a *check* is the finer unit
that one Great Expectations expectation verifies (``not_null`` is five checks, one per
column). ``check_masks`` returns, per check, the rows that BREAK it, with exactly the null
semantics of the matching GX expectation (GX map expectations skip nulls, so a NaN price
breaks ``not_null`` and nothing else). ``suite.py`` cross-checks the counts against GX.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from candleflow.domain import BAR_COLUMNS, PRICE_COLUMNS, Timeframe
from candleflow.errors import BadInputError

if TYPE_CHECKING:
    import datetime as dt

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
NOT_FORMING = "not_forming"
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
)
FLAG_RULES: tuple[str, ...] = (PRICE_JUMP,)
NOT_NULL_COLUMNS: tuple[str, ...] = ("ts", *PRICE_COLUMNS)

# check name -> rule name; the GX suite has one expectation per check.
CHECKS: dict[str, str] = {
    **{f"{NOT_NULL}:{col}": NOT_NULL for col in NOT_NULL_COLUMNS},
    **{rule: rule for rule in REJECT_RULES if rule != NOT_NULL},
    PRICE_JUMP: PRICE_JUMP,
}


def prepare(bars: pd.DataFrame) -> pd.DataFrame:
    """The frame in canonical form: ``BAR_COLUMNS``, ``ts`` UTC[us], the rest float64.

    A missing column or a column of the wrong kind makes the whole frame unusable, so it
    raises ``BadInputError`` naming the column instead of rejecting every row.
    """
    import pandas as pd

    missing = [c for c in BAR_COLUMNS if c not in bars.columns]
    if missing:
        raise BadInputError(
            f"bars lack column(s) {', '.join(missing)}; expected {', '.join(BAR_COLUMNS)}"
        )
    frame = bars.loc[:, list(BAR_COLUMNS)].reset_index(drop=True)
    ts = frame["ts"]
    if not pd.api.types.is_datetime64_any_dtype(ts) and not ts.isna().all():
        raise BadInputError(f"bars column ts has dtype {ts.dtype}; expected datetime64[UTC]")
    ts = pd.to_datetime(ts, utc=True)
    frame["ts"] = ts.dt.as_unit("us")
    for col in (*PRICE_COLUMNS, "volume"):
        values = frame[col]
        if pd.api.types.is_bool_dtype(values) or not (
            pd.api.types.is_numeric_dtype(values) or values.isna().all()
        ):
            raise BadInputError(f"bars column {col} has dtype {values.dtype}; expected float64")
        frame[col] = values.astype("float64")
    return frame


def collapse_identical(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop rows identical to an earlier one; only rows sharing a ts can be, so look there."""
    dup_ts = frame["ts"].duplicated(keep=False)
    if not dup_ts.any():
        return frame
    identical = frame[dup_ts].duplicated()
    return frame.drop(index=identical.index[identical.to_numpy()]).reset_index(drop=True)


def ts_micros(ts: pd.Series) -> np.ndarray:
    """UTC microseconds since the epoch as int64 (NaT becomes the minimum int64)."""
    return ts.dt.tz_convert("UTC").dt.as_unit("us").dt.tz_localize(None).to_numpy().view("i8")


def finite(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy in which +-inf counts as missing: an infinite price is no price at all."""
    import numpy as np

    out = frame.copy()
    for col in (*PRICE_COLUMNS, "volume"):
        values = out[col].to_numpy()
        out[col] = np.where(np.isinf(values), np.nan, values)
    return out


def bar_ends(ts: pd.Series, tf: Timeframe) -> pd.Series:
    """Each bar's end; months have no fixed length, so they go through ``Timeframe.bar_end``."""
    import pandas as pd

    if tf.minutes is not None:
        return ts + pd.Timedelta(minutes=tf.minutes)
    ends = [pd.NaT if pd.isna(t) else tf.bar_end(t) for t in ts]
    return pd.Series(pd.to_datetime(ends, utc=True), index=ts.index).dt.as_unit("us")


def check_masks(
    frame: pd.DataFrame,
    *,
    grid_ok: np.ndarray,
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
    ends: pd.Series,
) -> dict[str, np.ndarray]:
    """Per reject check, a boolean array of the rows that break it (``frame`` is finite)."""
    ts = frame["ts"]
    o, h, lo, c = (frame[col].to_numpy() for col in PRICE_COLUMNS)
    has_ts = ts.notna().to_numpy()
    masks = {f"{NOT_NULL}:{col}": frame[col].isna().to_numpy() for col in NOT_NULL_COLUMNS}
    masks.update(
        {
            # NaN comparisons are False: a missing price only breaks not_null.
            HIGH_GE_MAX_OPEN_CLOSE: (h < o) | (h < c),
            LOW_LE_MIN_OPEN_CLOSE: (lo > o) | (lo > c),
            HIGH_GE_LOW: h < lo,
            LOW_POSITIVE: lo <= 0,
            VOLUME_NON_NEGATIVE: frame["volume"].to_numpy() < 0,
            UNIQUE_TS: ts.duplicated(keep=False).to_numpy() & has_ts,
            ON_GRID: ~grid_ok & has_ts,
            IN_WINDOW: ((ts < start) | (ts >= end)).to_numpy() & has_ts,
            NOT_FORMING: (ends > now).to_numpy() & has_ts,
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


def price_changes(frame: pd.DataFrame, keep: np.ndarray) -> np.ndarray:
    """``close / previous close - 1`` over the rows in ``keep``, in ts order; NaN elsewhere.

    The previous close is that of the previous row that passes every reject rule, so a bad
    bar never makes its neighbours look like jumps; the first kept row has no previous bar.
    """
    import numpy as np

    changes = np.full(len(frame), np.nan)
    idx = np.flatnonzero(keep)
    if len(idx) < 2:
        return changes
    stamps = ts_micros(frame["ts"])[idx]
    order = idx if np.all(stamps[1:] >= stamps[:-1]) else idx[np.argsort(stamps, kind="stable")]
    close = frame["close"].to_numpy()[order]
    changes[order[1:]] = close[1:] / close[:-1] - 1.0
    return changes
