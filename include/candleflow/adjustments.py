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

import datetime as dt
import enum
import fractions
import functools
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
    actions of one kind on one ex-date. Plain Python over the rows, one DataFrame at the end:
    a sync builds one per instrument, and row-wise pandas cost milliseconds each.
    """
    import pandas as pd

    records = rows.to_dict("records") if isinstance(rows, pd.DataFrame) else list(rows)
    clean = sorted((_row(r) for r in records), key=lambda r: (r[0], r[1]))
    seen: set[tuple] = set()
    for row in clean:
        if row[:2] in seen:
            raise ValueError(f"two {row[1]} actions on {row[0]}; expected one per kind")
        seen.add(row[:2])
    columns = list(zip(*clean, strict=True)) if clean else [[] for _ in ACTION_COLUMNS]
    frame = pd.DataFrame(
        {
            name: pd.Series(list(values), dtype="object" if i < 2 else "float64")
            for i, (name, values) in enumerate(zip(ACTION_COLUMNS, columns, strict=True))
        }
    )
    return frame


def empty_actions() -> pd.DataFrame:
    """An action frame without actions (the answer of most checks)."""
    return _EMPTY().copy()


@functools.cache
def _EMPTY() -> pd.DataFrame:  # noqa: N802 - a constant, built on first use
    return action_frame([])


def _number(value) -> float:
    return math.nan if value is None else float(value)


def _row(record: dict) -> tuple:
    """One action as ``(ex_date, kind, ratio, amount, reference_price, factor)``, checked."""
    import pandas as pd

    day = record.get("ex_date")
    if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
        day = pd.Timestamp(day).date()
    kind = record.get("kind")
    ratio, amount, reference, factor = (
        _number(record.get(k)) for k in ("ratio", "amount", "reference_price", "factor")
    )
    where = f"{kind} on {day}"
    if kind == ActionKind.SPLIT:
        if not ratio > 0:
            raise ValueError(f"{where}: ratio {ratio!r}; expected new shares per old > 0")
        return (day, "split", ratio, math.nan, math.nan, factor if factor > 0 else 1.0 / ratio)
    if kind != ActionKind.DIVIDEND:
        raise ValueError(f"action kind {kind!r} on {day}; expected one of {KINDS}")
    if factor > 0:
        if not factor < 1:
            raise ValueError(f"{where}: factor {factor!r}; a dividend's is below 1")
        return (day, "dividend", math.nan, amount, reference, factor)
    if not (amount > 0 and reference > amount):
        raise ValueError(
            f"{where}: amount {amount!r}, reference price {reference!r}; "
            "expected 0 < amount < reference price (the close before the ex-date)"
        )
    return (day, "dividend", math.nan, amount, reference, 1.0 - amount / reference)


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
