"""The Parquet layout of exported bars: Hive partitions by symbol and month, one file each.

``OUT/symbol=NASDAQ:AAPL/month=2024-03/1m.parquet`` holds the 1m bars of that symbol whose
``ts`` falls in that UTC month. The directory names are the Hive partition keys (written as
is, not percent-encoded, so every reader sees ``NASDAQ:AAPL``); pandas (pyarrow), polars
and DuckDB read the folder as one table with ``symbol`` and ``month`` columns. Each file has
the columns of ``FILE_SCHEMA`` (the bar columns of ``candleflow.query.bars`` plus the
timeframe), zstd-compressed.

Writes converge: a month file is written to a temporary name and renamed over the old one,
and when the exported window covers only part of a month, the bars of the old file outside
the window are kept. Re-running an export rewrites the same files with the same rows.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from candleflow.domain import BARS, TICKS, to_micros

#: The columns of every bar file; ``symbol`` and ``month`` come from the folders.
FILE_SCHEMA = pa.schema(
    [
        *((c.name, c.arrow_type()) for c in BARS),
        ("source", pa.string()),
        ("complete", pa.bool_()),
        ("timeframe", pa.string()),
    ]
)
#: The columns of a tick file (``ticks.parquet``), for ticks exported before they are dropped.
TICK_SCHEMA = pa.schema([*((c.name, c.arrow_type()) for c in TICKS), ("source", pa.string())])
COMPRESSION = "zstd"
_DICTIONARY = ["source", "timeframe"]  # the repeated strings; floats gain nothing from it


def month_dir(out: Path, symbol: str, month: str) -> Path:
    """``out/symbol=SYMBOL/month=YYYY-MM``."""
    return Path(out) / f"symbol={symbol}" / f"month={month}"


def _window_mask(ts: pa.ChunkedArray, start: dt.datetime, end: dt.datetime) -> pa.ChunkedArray:
    return pc.and_(pc.greater_equal(ts, pa.scalar(start)), pc.less(ts, pa.scalar(end)))


def write_bars(
    table: pa.Table,
    out: str | Path,
    symbol: str,
    timeframe: str,
    start: dt.datetime,
    end: dt.datetime,
) -> list[Path]:
    """Write one symbol's bars of ``[start, end)`` (``table`` has ``FILE_SCHEMA``'s columns
    but ``timeframe``), one file per month; returns the files written."""
    table = table.select([n for n in FILE_SCHEMA.names if n != "timeframe"])
    table = table.append_column("timeframe", pa.array([timeframe] * len(table), pa.string()))
    return write_symbol(table.cast(FILE_SCHEMA), out, symbol, start, end, name=timeframe)


def write_symbol(
    table: pa.Table,
    out: str | Path,
    symbol: str,
    start: dt.datetime,
    end: dt.datetime,
    *,
    name: str,
    schema: pa.Schema = FILE_SCHEMA,
) -> list[Path]:
    """Write one symbol's rows of ``[start, end)`` (``table`` in ``schema``) as
    ``<month folder>/<name>.parquet``, one file per month; returns the files written.

    A month the window touches but ``table`` has no row in is written too when an earlier
    file exists (its rows inside the window are gone from the warehouse), and not created
    when none exists.
    """
    table = table.cast(schema)
    micros = table.column("ts").cast(pa.int64()).to_numpy()
    if len(micros) > 1 and (np.diff(micros) < 0).any():
        table = table.take(np.argsort(micros, kind="stable"))
        micros = np.sort(micros, kind="stable")
    written = []
    for month, (lo, hi) in _months_between(start, end):
        first, stop = np.searchsorted(micros, [to_micros(lo), to_micros(hi)])
        part = table.slice(first, stop - first)  # ts-ordered: a month is one slice
        path = month_dir(Path(out), symbol, month) / f"{name}.parquet"
        if path.exists():
            old = pq.read_table(path, schema=schema)
            keep = old.filter(pc.invert(_window_mask(old.column("ts"), start, end)))
            part = pa.concat_tables([keep, part])
            part = part.take(pc.sort_indices(part, [("ts", "ascending")]))
        elif not len(part):
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        pq.write_table(part, partial, compression=COMPRESSION, use_dictionary=_DICTIONARY)
        partial.replace(path)
        written.append(path)
    return written


def _months_between(
    start: dt.datetime, end: dt.datetime
) -> list[tuple[str, tuple[dt.datetime, dt.datetime]]]:
    """Every UTC month (``YYYY-MM``) that ``[start, end)`` touches, with its bounds."""
    months, at = [], dt.datetime(start.year, start.month, 1, tzinfo=dt.UTC)
    while at < end:
        following = dt.datetime(at.year + at.month // 12, at.month % 12 + 1, 1, tzinfo=dt.UTC)
        months.append((f"{at:%Y-%m}", (at, following)))
        at = following
    return months
