"""One read of many symbols: each series from what covers the window, then filled as asked.

Above ``bars`` (one series' stored rows) and ``compose`` (which timeframe covers which part
of the window): the read ``candleflow.query.bars`` hands to the pool.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from candleflow.domain import Timeframe
from candleflow.query import bars, compose


def read_bars(
    cursor,
    wanted: list[str],
    tf: Timeframe,
    start: dt.datetime,
    end: dt.datetime,
    fill: str | None,
    sources: list[str],
    adjustment: str = "raw",
    session: str = "regular",
    as_of: dt.datetime | None = None,
) -> list[pa.Table]:
    """One table per known symbol of ``wanted``: read, adjusted, resampled and filled as asked.

    Why a function of a cursor: ``query.bars`` hands it to the pool, which may run it again
    on a new connection when a pooled one turns out to be broken (it only reads).
    """
    from candleflow.query import resample as query_resample  # pandas, for fill only

    tables = []
    for item in bars.series(cursor, wanted, actions=adjustment != "raw", session=session):
        read = compose.Read(cursor, item, sources, adjustment, as_of)
        found = read.best(tf, start, end)
        if found is None:
            continue
        if isinstance(found, pa.Table) and fill is None:
            tables.append(found)
            continue
        frame = found.drop_columns("symbol").to_pandas() if isinstance(found, pa.Table) else found
        if fill is not None:
            frame = query_resample.fill(frame, item.market, tf, fill)
        arrow = pa.Table.from_pandas(frame, schema=bars.SCHEMA.remove(0), preserve_index=False)
        tables.append(bars.with_symbol(arrow, item.market.symbol))
    return tables
