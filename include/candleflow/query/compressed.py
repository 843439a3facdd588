"""Reading compressed segments into Arrow: what the bar read path uses for closed months.

``read_compressed`` fetches the segments of one series that overlap ``[start, end)`` through
the same ADBC cursor as the plain read, decodes them with numpy (``candleflow.db.segments``)
and returns ``ts`` and OHLCV in the types of the plain read. Why decode here rather than in
SQL (``candleflow.segment_rows``, which the views use): a segment crosses the socket at
about a tenth of the plain rows' bytes and numpy rebuilds a month of 1m bars in about a
millisecond, where the SQL decoder spends about a microsecond a bar in window functions.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from candleflow.db import segments
from candleflow.domain import BARS, to_micros

_SQL = """
SELECT segment_start, segment_end, bars, first_ts, last_ts, ts_delta, price_scale, close_base,
       open_delta, high_delta, low_delta, close_delta, open_float, high_float, low_float,
       close_float, volume_scale, volume_int, volume_float
FROM candleflow.bar_segments
WHERE instrument_id = $1 AND timeframe = $2 AND source = $3
  AND segment_start < $5 AND segment_end > $4 AND last_ts >= $4 AND first_ts < $5
ORDER BY segment_start
"""
_INTS = ("open_delta", "high_delta", "low_delta", "close_delta")
_FLOATS = ("open_float", "high_float", "low_float", "close_float")
SCHEMA = pa.schema([(c.name, c.arrow_type()) for c in BARS])


def _array(column: pa.ChunkedArray, i: int, dtype) -> np.ndarray | None:
    value = column[i]
    if not value.is_valid:
        return None
    values = value.values
    return values.to_numpy(zero_copy_only=False).astype(dtype, copy=False)


def _segment(table: pa.Table, i: int) -> segments.Segment:
    col = table.column
    scalar = {
        n: col(n)[i].as_py()
        for n in (
            "segment_start",
            "segment_end",
            "bars",
            "first_ts",
            "last_ts",
            "price_scale",
            "close_base",
            "volume_scale",
        )
    }
    ints = {n: _array(col(n), i, np.int64) for n in _INTS} if scalar["price_scale"] else {}
    floats = {} if scalar["price_scale"] else {n: _array(col(n), i, np.float64) for n in _FLOATS}
    return segments.Segment(
        scalar["segment_start"],
        scalar["segment_end"],
        scalar["bars"],
        scalar["first_ts"],
        scalar["last_ts"],
        _array(col("ts_delta"), i, np.int64),
        scalar["price_scale"],
        scalar["close_base"],
        ints,
        floats,
        scalar["volume_scale"],
        _array(col("volume_int"), i, np.float64),
        _array(col("volume_float"), i, np.float64),
    )


def read_compressed(
    cursor, instrument_id: int, timeframe: str, source: str, start: dt.datetime, end: dt.datetime
) -> pa.Table:
    """The compressed bars of one series in ``[start, end)``, ts-ordered, in ``SCHEMA``."""
    cursor.execute(_SQL, parameters=(instrument_id, timeframe, source, start, end))
    table = cursor.fetch_arrow_table()
    lo, hi = to_micros(start), to_micros(end)
    pieces = []
    for i in range(len(table)):
        values = segments.decode_values(_segment(table, i))
        keep = (values["ts"] >= lo) & (values["ts"] < hi)
        arrays = [pa.array(values["ts"][keep], pa.timestamp("us", tz="UTC"))]
        arrays += [pa.array(values[c][keep]) for c in ("open", "high", "low", "close")]
        arrays.append(pa.array(values["volume"][keep], from_pandas=True))  # NaN -> null
        pieces.append(pa.Table.from_arrays(arrays, schema=SCHEMA))
    return pa.concat_tables(pieces) if pieces else SCHEMA.empty_table()


def with_closed(
    cursor,
    table: pa.Table,
    instrument_id: int,
    timeframe: str,
    source: str,
    start: dt.datetime,
    end: dt.datetime,
) -> pa.Table:
    """``table`` (one source's plain rows of a series, ts-ordered) with the bars of its
    compressed segments in ``[start, end)`` added, in ts order: the bar read's one hook.

    A month lives either in plain rows or in its segment (the bar writer routes bars of a
    compressed month into the segment), so the two never hold the same bar.
    """
    closed = read_compressed(cursor, instrument_id, timeframe, source, start, end)
    if not len(closed):
        return table
    merged = pa.concat_tables([closed.cast(table.schema), table])
    if len(table) and table.column("ts")[0].as_py() < closed.column("ts")[-1].as_py():
        merged = merged.take(merged.column("ts").to_numpy().argsort(kind="stable"))
    return merged
