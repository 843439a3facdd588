"""Corporate actions and price adjustment: the vocabulary and the arithmetic every layer shares.

Bars are stored as traded (raw prices and volumes); splits and cash dividends are stored
beside them, one row per instrument, ex-date and kind, and applied when a series is read.
An action changes every price before its ex-date, so applying it on read means a new action
is reflected by every read at once and no stored series is ever half in one scale.

The arithmetic is LEAN's (QuantConnect's factor files): each action has a **factor**, the
number prices before its ex-date are multiplied by, and a bar's factor is the product of the
factors of every action after its session date, cumulative back from the newest action:

- a split of ``ratio`` new shares per old one (4 for a 4:1 split, 0.1 for a 1:10 reverse
  split) has factor ``1 / ratio``; the product of the split factors is LEAN's
  ``split_factor``, and volumes are divided by it (adjusted inversely);
- a cash dividend of ``amount`` per share has factor ``1 - amount / reference_price``, the
  reference being the raw close of the session before the ex-date; the product of the
  dividend factors is LEAN's ``price_factor``.

``raw`` reads the prices as stored; ``splits`` (the default: what TradingView and most charts
show) multiplies by the split factor; ``total_return`` by split factor x price factor.
"""

from __future__ import annotations

import enum
import fractions
import math
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


class AdjustmentMode(enum.StrEnum):
    RAW = "raw"
    SPLITS = "splits"
    TOTAL_RETURN = "total_return"


class ActionKind(enum.StrEnum):
    SPLIT = "split"
    DIVIDEND = "dividend"


ADJUSTMENTS: tuple[str, ...] = tuple(m.value for m in AdjustmentMode)
KINDS: tuple[str, ...] = tuple(k.value for k in ActionKind)
Adjustment = Literal["raw", "splits", "total_return"]
DEFAULT_ADJUSTMENT: Adjustment = "splits"
ACTION_COLUMNS = ("ex_date", "kind", "ratio", "amount", "reference_price", "factor")
# File layouts ``candleflow actions import`` reads (``providers.files.actions``).
ACTION_PRESETS = ("lean_factor", "zipline", "quandl")

# A derived split ratio within this relative distance of a simple fraction is that fraction
# (2.0000056 in a factor file rounded to 7 digits is a 2:1 split).
SNAP_TOLERANCE = 1e-4
_MAX_DENOMINATOR = 20


def check_adjustment(value: str | None) -> Adjustment:
    """``value`` if it is a mode (``None`` is the default); a ``ValueError`` naming them if not."""
    if value is None:
        return DEFAULT_ADJUSTMENT
    if value not in ADJUSTMENTS:
        raise ValueError(f"bad adjustment {value!r}; expected one of {', '.join(ADJUSTMENTS)}")
    return value  # type: ignore[return-value]


def snap_ratio(ratio: float, tolerance: float = SNAP_TOLERANCE) -> float:
    """``ratio`` as the simple fraction it is within ``tolerance`` of (4.00003 -> 4.0, 1.49999
    -> 1.5, 0.100001 -> 0.1), else unchanged."""
    if not math.isfinite(ratio) or ratio <= 0:
        raise ValueError(f"bad split ratio {ratio!r}; expected a number > 0")
    near = fractions.Fraction(ratio).limit_denominator(_MAX_DENOMINATOR)
    if near == 0:
        return float(ratio)
    return float(near) if abs(ratio / float(near) - 1) <= tolerance else float(ratio)


def action_frame(rows: list[dict] | pd.DataFrame) -> pd.DataFrame:
    """Actions as the one frame every layer passes (``ACTION_COLUMNS``, sorted by ex-date and
    kind, ``factor`` filled in from ``ratio`` or ``amount``/``reference_price`` when absent).

    A ``ValueError`` names the first impossible row: an unknown kind, a split without a
    positive ratio, a dividend without a positive amount below its reference price, or two
    actions of one kind on one ex-date.
    """
    import numpy as np
    import pandas as pd

    frame = pd.DataFrame(rows).copy()
    for column in ACTION_COLUMNS:
        if column not in frame:
            frame[column] = np.nan
    frame = frame.loc[:, list(ACTION_COLUMNS)]
    frame["ex_date"] = pd.to_datetime(frame["ex_date"]).dt.date if len(frame) else frame["ex_date"]
    frame["kind"] = frame["kind"].astype("object")
    for column in ACTION_COLUMNS[2:]:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    for i, row in enumerate(frame.itertuples(index=False)):
        frame.loc[frame.index[i], "factor"] = _factor_of(row)
    if frame.duplicated(["ex_date", "kind"]).any():
        dup = frame[frame.duplicated(["ex_date", "kind"])].iloc[0]
        raise ValueError(f"two {dup['kind']} actions on {dup['ex_date']}; expected one per kind")
    return frame.sort_values(["ex_date", "kind"], kind="stable").reset_index(drop=True)


def _factor_of(row) -> float:
    where = f"{row.kind} on {row.ex_date}"
    if row.kind == ActionKind.SPLIT:
        if not row.ratio > 0:
            raise ValueError(f"{where}: ratio {row.ratio!r}; expected new shares per old > 0")
        return row.factor if row.factor > 0 else 1.0 / row.ratio
    if row.kind != ActionKind.DIVIDEND:
        raise ValueError(f"action kind {row.kind!r} on {row.ex_date}; expected one of {KINDS}")
    if row.factor > 0:
        if not row.factor < 1:
            raise ValueError(f"{where}: factor {row.factor!r}; a dividend's is below 1")
        return row.factor
    if not (row.amount > 0 and row.reference_price > row.amount):
        raise ValueError(
            f"{where}: amount {row.amount!r}, reference price {row.reference_price!r}; "
            "expected 0 < amount < reference price (the close before the ex-date)"
        )
    return 1.0 - row.amount / row.reference_price


def cumulative(
    ex_dates: np.ndarray, kinds: np.ndarray, factors: np.ndarray, mode: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The factors of ``mode`` as a step function of the session date.

    Returns ``(dates, price, volume)``: ``dates`` the distinct ex-dates (``datetime64[D]``,
    ascending), ``price[k]`` / ``volume[k]`` the factors of a bar whose session date has
    ``k`` of them on or before it (``np.searchsorted(dates, day, "right")``); the last entry
    is 1 (after the newest action nothing changes). ``price`` multiplies prices; ``volume``
    divides volumes (the split factor alone). ``raw`` is all ones.
    """
    import numpy as np

    days = np.asarray(ex_dates, dtype="datetime64[D]")
    dates, index = np.unique(days, return_inverse=True)
    factors = np.asarray(factors, dtype="float64")
    split = np.asarray(kinds) == ActionKind.SPLIT
    wanted = {"raw": np.zeros_like(split), "splits": split, "total_return": np.ones_like(split)}
    price_day, split_day = np.ones(len(dates)), np.ones(len(dates))
    np.multiply.at(price_day, index, np.where(wanted[check_adjustment(mode)], factors, 1.0))
    np.multiply.at(split_day, index, np.where(split, factors, 1.0))
    # products from the newest back: entry k covers the actions of dates k, k + 1, ...
    price = np.append(np.cumprod(price_day[::-1])[::-1], 1.0)
    volume = np.append(np.cumprod(split_day[::-1])[::-1], 1.0)
    if mode == "raw":
        volume = np.ones_like(volume)
    return dates, price, volume
