"""Export one partition of bars or ticks to the Parquet lake, before retention drops it.

The rows are written as stored (raw prices, both sources), one instrument at a time so that
memory follows the largest series of the partition, not the partition, in the layout of
``candleflow.db.lake`` (bar files as ``<timeframe>.parquet`` with ``complete`` true, tick
files as ``ticks.parquet``). A partition may hold both a provider and a rollup bar at one
ts; both are kept, the ``source`` column tells them apart.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
from psycopg2 import sql

from candleflow.db import lake

if TYPE_CHECKING:
    from candleflow.db.retention import Partition

log = logging.getLogger(__name__)

_BAR_ROWS = sql.SQL(
    "SELECT ts, open, high, low, close, volume, source, true AS complete FROM {}"
    " WHERE instrument_id = %s ORDER BY ts, source"
)
_TICK_ROWS = sql.SQL(
    "SELECT ts, seq, price, size, day_volume, bid, ask, source FROM {}"
    " WHERE instrument_id = %s ORDER BY ts, seq"
)


def export_partition(conn, partition: Partition, out: Path) -> int:
    """Write every row of ``partition`` under ``out``; returns the rows written."""
    table = sql.Identifier(*partition.name.split("."))
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                "SELECT DISTINCT p.instrument_id, i.symbol FROM {} AS p"
                " JOIN candleflow.instruments AS i ON i.id = p.instrument_id ORDER BY 2"
            ).format(table)
        )
        series = cur.fetchall()
    rows = 0
    for instrument_id, symbol in series:
        query = (_TICK_ROWS if partition.kind == "ticks" else _BAR_ROWS).format(table)
        with conn.cursor() as cur:
            cur.execute(query, (instrument_id,))
            names = [d[0] for d in cur.description]
            frame = pd.DataFrame(cur.fetchall(), columns=names)
        frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
        arrow = pa.Table.from_pandas(frame, preserve_index=False)
        if partition.kind == "ticks":
            lake.write_symbol(
                arrow,
                out,
                symbol,
                partition.start,
                partition.end,
                name="ticks",
                schema=lake.TICK_SCHEMA,
            )
        else:
            lake.write_bars(
                arrow, out, symbol, str(partition.timeframe), partition.start, partition.end
            )
        rows += len(frame)
    log.info("exported %s: %d rows of %d instruments to %s", partition.name, rows, len(series), out)
    return rows
