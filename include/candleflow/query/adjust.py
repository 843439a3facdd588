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
import functools
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

# An instrument's actions, oldest first, as one text beside its row in the instrument lookup
# of an adjusted read (``query.bars.series``): "date kind factor,date kind factor,...".
# Text because it is the cheapest column to send and decode (arrays cost 4x as much);
# ``factor::text`` is the shortest text that reads back as the same double.
ACTIONS_COLUMN = """(
    SELECT string_agg(c.ex_date::text || ' ' || c.kind || ' ' || c.factor::text, ','
                      ORDER BY c.ex_date, c.kind)
    FROM candleflow.corporate_actions AS c WHERE c.instrument_id = (
        SELECT r.id FROM candleflow.instruments AS r  -- the symbol's: its regular row holds them
        WHERE r.symbol = i.symbol AND r.series_session = 'regular'))"""

LIST_SQL = """
SELECT i.symbol, a.ex_date, a.kind, a.ratio, a.amount, a.reference_price, a.factor, a.source,
       a.run_id, a.recorded_at
FROM candleflow.corporate_actions AS a
JOIN candleflow.instruments AS i ON i.id = a.instrument_id
WHERE i.symbol = $1 AND i.series_session = 'regular' ORDER BY a.ex_date, a.kind
"""


@functools.lru_cache(maxsize=256)
def _steps(actions: str, timezone: str, mode: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(UTC µs at which each ex-date begins in ``timezone``, price factors, volume factors):
    the step function ``cumulative`` gives, in the form ``searchsorted`` wants, from the text
    of ``ACTIONS_COLUMN``. Cached: an instrument's actions change rarely, its reads repeat."""
    parts = [item.split(" ") for item in actions.split(",")]
    ex_dates = [dt.date.fromisoformat(p[0]) for p in parts]
    dates, price, volume = cumulative(
        ex_dates, [p[1] for p in parts], [float(p[2]) for p in parts], mode
    )
    zone = ZoneInfo(timezone)
    starts = np.array(
        [round(dt.datetime.combine(d, dt.time(), zone).timestamp() * 1e6) for d in dates.tolist()],
        dtype=np.int64,
    )
    return starts, price, volume


def factors_for(
    ts_us: np.ndarray, tf: Timeframe, timezone: str, actions: str | None, mode: str
) -> tuple[np.ndarray, np.ndarray] | None:
    """``(price, volume)`` factors of bars starting at ``ts_us`` (ascending); None when all
    are 1 (raw, no actions, or every bar on or after the newest ex-date)."""
    if mode == "raw" or actions is None or len(ts_us) == 0:
        return None
    starts, price, volume = _steps(actions, timezone, mode)
    shifted = ts_us if tf.intraday else ts_us + _HALF_DAY_US
    if shifted[0] >= starts[-1]:  # ts order: every bar is after the newest action
        return None
    index = np.searchsorted(starts, shifted, side="right")
    return price[index], volume[index]


def _values(table: pa.Table, name: str) -> pa.Array:
    column = table.column(name)
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def apply(table: pa.Table, actions: str | None, tf: Timeframe, timezone: str, mode: str):
    """``table`` (stored bars of one instrument, in ts order) adjusted as ``mode`` says."""
    if mode == "raw" or actions is None or len(table) == 0:
        return table
    ts = _values(table, "ts").cast(pa.int64()).to_numpy()
    found = factors_for(ts, tf, timezone, actions, mode)
    if found is None:
        return table
    price, volume = found
    columns = {}
    for name in PRICE_COLUMNS:
        values = _values(table, name).to_numpy(zero_copy_only=False)
        columns[name] = pa.array(values * price, type=pa.float64())
    volumes = _values(table, "volume")
    raw = volumes.to_numpy(zero_copy_only=False)  # NULL is NaN, and stays NaN
    columns["volume"] = pa.array(raw / volume, mask=np.isnan(raw) if volumes.null_count else None)
    arrays = [columns.get(name, table.column(name)) for name in table.schema.names]
    return pa.Table.from_arrays(arrays, schema=table.schema)


def list_actions(cursor, symbol: str) -> pd.DataFrame:
    """The stored actions of ``symbol`` (``symbol``, ``ACTION_COLUMNS``, source, run, when)."""
    cursor.execute(LIST_SQL, parameters=(symbol,))
    frame = cursor.fetch_arrow_table().to_pandas()
    if frame.empty:
        return frame
    return frame.astype({c: "float64" for c in ACTION_COLUMNS[2:]})
