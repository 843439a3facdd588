"""Adjustment on read: an instrument's corporate actions applied to the bars a read returns.

Bars are stored raw; ``apply`` multiplies the prices of each bar by the factor of its
session date (``candleflow.adjustments``: LEAN's arithmetic) and divides the volume by the
split factor. It runs on the **stored** bars, before any resampling, so a week resampled
from days with a split on its Wednesday is built from days that are all in one scale.

Why the comparison is done in UTC: an action applies to the sessions before its ex-date, and
a bar's session date is the exchange-local date of its ts (of ts + 12 h for daily and longer
bars, which is right whether a provider stamps them at UTC midnight or at the session open,
as ``query.sessions`` says). Turning the few ex-dates into the UTC instants of their local
midnight, instead of every bar's ts into a local date, makes the lookup one
``searchsorted`` of the bars' int64 timestamps: a year of 1m bars costs milliseconds.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa

from candleflow.adjustments import ACTION_COLUMNS, cumulative
from candleflow.domain import PRICE_COLUMNS, Timeframe

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

_HALF_DAY_US = 12 * 3600 * 1_000_000

# The actions of one instrument, oldest first (what ``apply`` needs: date, kind, factor).
ACTIONS_SQL = """
SELECT ex_date, kind, factor FROM candleflow.corporate_actions
WHERE instrument_id = $1 ORDER BY ex_date, kind
"""

LIST_SQL = """
SELECT i.symbol, a.ex_date, a.kind, a.ratio, a.amount, a.reference_price, a.factor, a.source,
       a.run_id, a.recorded_at
FROM candleflow.corporate_actions AS a
JOIN candleflow.instruments AS i ON i.id = a.instrument_id
WHERE i.symbol = $1 ORDER BY a.ex_date, a.kind
"""


def boundaries(ex_dates: np.ndarray, timezone: str) -> np.ndarray:
    """The UTC instant (int64 µs) at which each ex-date begins in ``timezone``."""
    zone = ZoneInfo(timezone)
    days = np.asarray(ex_dates, dtype="datetime64[D]").tolist()
    return np.array(
        [round(dt.datetime.combine(d, dt.time(), zone).timestamp() * 1e6) for d in days],
        dtype=np.int64,
    )


def factors_for(
    ts_us: np.ndarray, tf: Timeframe, timezone: str, actions: pa.Table, mode: str
) -> tuple[np.ndarray, np.ndarray] | None:
    """``(price, volume)`` factors of bars starting at ``ts_us``; None when all are 1."""
    if mode == "raw" or len(actions) == 0 or len(ts_us) == 0:
        return None
    dates, price, volume = cumulative(
        actions.column("ex_date").to_numpy(zero_copy_only=False),
        actions.column("kind").to_numpy(zero_copy_only=False),
        actions.column("factor").to_numpy(zero_copy_only=False),
        mode,
    )
    starts = boundaries(dates, timezone)
    shifted = ts_us if tf.intraday else ts_us + _HALF_DAY_US
    if shifted[0] >= starts[-1]:  # ts order: every bar is after the newest action
        return None
    index = np.searchsorted(starts, shifted, side="right")
    return price[index], volume[index]


def apply(cursor, table: pa.Table, instrument_id: int, tf: Timeframe, timezone: str, mode: str):
    """``table`` (stored bars of one instrument, in ts order) adjusted as ``mode`` says."""
    if mode == "raw" or len(table) == 0:
        return table
    cursor.execute(ACTIONS_SQL, parameters=(instrument_id,))
    actions = cursor.fetch_arrow_table()
    ts = table.column("ts").combine_chunks().cast(pa.int64()).to_numpy()
    found = factors_for(ts, tf, timezone, actions, mode)
    if found is None:
        return table
    price, volume = found
    columns = {}
    for name in PRICE_COLUMNS:
        values = table.column(name).combine_chunks().to_numpy(zero_copy_only=False)
        columns[name] = pa.array(values * price, type=table.schema.field(name).type)
    volumes = table.column("volume").combine_chunks()
    mask = volumes.is_null().to_numpy(zero_copy_only=False)
    raw = volumes.to_numpy(zero_copy_only=False)
    columns["volume"] = pa.array(raw / volume, mask=mask, type=volumes.type)
    arrays = [columns.get(name, table.column(name)) for name in table.schema.names]
    return pa.Table.from_arrays(arrays, schema=table.schema)


def list_actions(cursor, symbol: str) -> pd.DataFrame:
    """The stored actions of ``symbol`` (``symbol``, ``ACTION_COLUMNS``, source, run, when)."""
    cursor.execute(LIST_SQL, parameters=(symbol,))
    frame = cursor.fetch_arrow_table().to_pandas()
    if frame.empty:
        return frame
    return frame.astype({c: "float64" for c in ACTION_COLUMNS[2:]})
