"""The canonical bar frame, made once where a provider's frame enters.

Canonical: columns ``BAR_COLUMNS``, ``ts`` the bar start as ``datetime64[us, UTC]``, the rest
float64 (NaN = missing), sorted by ``ts``, no two rows identical. ``IDataProvider.fetch_bars``
makes it (``normalize_bars``); the window cut (``services.window``), validation and the bars
writer read it as it is and only look cheaply (a dtype compare, one pass over ``ts``) before
trusting it. Why one home: a conversion repeated at each stage copies a million-bar slice
again each time, and copies of one rule drift apart.

Two policies for a column of the wrong kind: a provider's values are coerced (a vendor's
``"n/a"`` price becomes NaN, which validation rejects as ``not_null``: ``normalize_bars``);
a frame handed to validation directly must already be usable, so an unusable column raises
``BadInputError`` naming it (``canonical``).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from candleflow.domain import BAR_COLUMNS, to_micros
from candleflow.errors import BadInputError
from candleflow.frames.ends import NAT, bar_ends

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from candleflow.calendars import Market
    from candleflow.domain import Timeframe

TS_DTYPE = "datetime64[us, UTC]"


def ts_micros(column: Any) -> np.ndarray:
    """Timestamps as int64 µs since the epoch (UTC), ``NAT`` for NaT; naive values (and text)
    are taken as UTC. A canonical column is read as it is, without a copy."""
    import pandas as pd

    dtype = column.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        if dtype.unit == "us":
            return column.array.asi8  # epoch-based whatever the zone
        return pd.DatetimeIndex(column).as_unit("us").asi8
    return pd.DatetimeIndex(pd.to_datetime(column, utc=True)).as_unit("us").asi8


def floats(column: pd.Series) -> np.ndarray:
    """A column as float64, anything that is no number as NaN (the provider policy)."""
    import numpy as np
    import pandas as pd

    if column.dtype == np.float64:
        return column.to_numpy()
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def is_canonical(bars: pd.DataFrame) -> bool:
    """Whether the columns have the canonical dtypes (the cheap look before trusting)."""
    dtypes = bars.dtypes
    return str(dtypes["ts"]) == TS_DTYPE and all(dtypes[c] == "float64" for c in BAR_COLUMNS[1:])


def empty_bars() -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in BAR_COLUMNS})
    frame["ts"] = pd.Series(dtype=TS_DTYPE)
    return frame


def normalize_bars(
    raw: pd.DataFrame,
    tf: Timeframe,
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
    *,
    market: Market | None = None,
) -> pd.DataFrame:
    """The canonical frame of what a provider returned for bar starts in ``[start, end)``:
    bars still forming at ``now`` (``bar_ends``: a daily bar of a session ``market`` closes
    at its session's close) and bars outside the window dropped, identical duplicates (page
    overlap) collapsed, conflicting ones kept for validation to reject. ``attrs`` survive.

    Why numpy: this runs once per symbol and window, and the pandas version cost 13 ms for a
    one-bar window (6.5 s of a 500-symbol run) and 1.3 s for a million bars.

    A row without a timestamp (a vendor file's empty date) is kept for validation to reject
    (``not_null``) when the provider placed it: an ``anchor`` column gives where it stood in
    its file (the bar before it), and the row belongs to the window that holds its anchor.
    The column is kept for ``services.window.closed_in``; without it such a row is dropped.
    """
    import numpy as np
    import pandas as pd

    missing = [c for c in BAR_COLUMNS if c not in raw.columns]
    if missing:
        raise ValueError(f"provider frame lacks columns {missing}; expected {list(BAR_COLUMNS)}")
    attrs = dict(raw.attrs)
    if raw.empty:
        bars = empty_bars()
        bars.attrs.update(attrs)
        return bars
    ts = ts_micros(raw["ts"])
    place = ts
    unplaced = ts == NAT
    if "anchor" in raw.columns and unplaced.any():
        place = np.where(unplaced, ts_micros(raw["anchor"]), ts)
    closed = bar_ends(place, tf, market) <= to_micros(now)
    keep = (place >= to_micros(start)) & (place < to_micros(end)) & closed
    if place is ts and keep.all() and is_canonical(raw) and not (np.diff(ts) < 0).any():
        # already canonical, in the window and sorted (what TradingView and ccxt hand over):
        # the provider's columns as they are, no copy (copy-on-write keeps them its own)
        bars = collapse_identical(raw.loc[:, list(BAR_COLUMNS)], ts)
        bars.attrs.update(attrs)
        return bars
    values = np.column_stack([floats(raw[c]) for c in BAR_COLUMNS[1:]])
    if not keep.all():
        ts, place, values = ts[keep], place[keep], values[keep]
    if (np.diff(ts) < 0).any():
        order = np.argsort(ts, kind="stable")
        ts, place, values = ts[order], place[order], values[order]
    bars = pd.DataFrame(values, columns=list(BAR_COLUMNS[1:]))
    bars.insert(0, "ts", pd.DatetimeIndex(ts.view("M8[us]")).tz_localize("UTC"))
    if (place != ts).any():
        bars["anchor"] = pd.DatetimeIndex(place.view("M8[us]")).tz_localize("UTC")
    bars = collapse_identical(bars, ts)
    bars.attrs.update(attrs)
    return bars


def canonical(bars: pd.DataFrame) -> pd.DataFrame:
    """``bars[BAR_COLUMNS]`` in canonical dtypes, on a 0..n-1 index (the validation policy:
    an unusable column raises ``BadInputError``). A canonical frame is only selected."""
    import pandas as pd

    missing = [c for c in BAR_COLUMNS if c not in bars.columns]
    if missing:
        raise BadInputError(
            f"bars lack column(s) {', '.join(missing)}; expected {', '.join(BAR_COLUMNS)}"
        )
    frame = bars.loc[:, list(BAR_COLUMNS)]  # a new frame: the caller's is never written
    if not _range_index(frame):
        frame = frame.reset_index(drop=True)
    if is_canonical(frame):
        return frame
    ts = frame["ts"]
    if not pd.api.types.is_datetime64_any_dtype(ts) and not ts.isna().all():
        raise BadInputError(f"bars column ts has dtype {ts.dtype}; expected datetime64[UTC]")
    frame["ts"] = pd.to_datetime(ts, utc=True).dt.as_unit("us")
    for col in BAR_COLUMNS[1:]:
        values = frame[col]
        if pd.api.types.is_bool_dtype(values) or not (
            pd.api.types.is_numeric_dtype(values) or values.isna().all()
        ):
            raise BadInputError(f"bars column {col} has dtype {values.dtype}; expected float64")
        frame[col] = values.astype("float64")
    return frame


def _range_index(frame: pd.DataFrame) -> bool:
    import pandas as pd

    index = frame.index
    return isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1


def collapse_identical(frame: pd.DataFrame, ts: np.ndarray | None = None) -> pd.DataFrame:
    """``frame`` without the rows identical to an earlier one (``ts``: its µs, if at hand).

    Only rows sharing a timestamp can be identical, so a strictly increasing ``ts`` (one pass,
    the usual case) returns ``frame`` itself; otherwise only those rows are compared.
    """
    t = ts_micros(frame["ts"]) if ts is None else ts
    if not duplicated_ts(t).any():
        return frame
    same_ts = frame["ts"].duplicated(keep=False).to_numpy()
    identical = frame[same_ts].duplicated()
    return frame.drop(index=identical.index[identical.to_numpy()]).reset_index(drop=True)


def duplicated_ts(t: np.ndarray) -> np.ndarray:
    """True for every row whose ts (int64 µs, ``NAT`` = none) another row shares."""
    import numpy as np

    if len(t) < 2 or bool(np.all(t[1:] > t[:-1])):  # strictly increasing: the usual case
        return np.zeros(len(t), dtype=bool)
    _, inverse, counts = np.unique(t, return_inverse=True, return_counts=True)
    return (counts[inverse] > 1) & (t != NAT)
