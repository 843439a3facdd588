"""Bulk loading: a DataFrame (or Arrow table) into a table through binary ``COPY``.

This is plumbing, not a table writer: the append-only load of ticks is in
``candleflow.db.ticks``; the merge of bars, which must tell inserted from updated from
unchanged rows, is in ``candleflow.db.bars``.

Why binary COPY built with numpy: every load path of this project runs inside the caller's
psycopg2 transaction (one per instrument x window), so the staging step must use that same
connection. ``COPY ... FROM STDIN (FORMAT binary)`` on it is the fastest way in: the rows are
fixed-width, so numpy writes the whole wire image at once (no per-row Python, no float to
text and back), and PostgreSQL stores the values without parsing them. Measured here
(``benchmarks/bench_load.py``): encoding 1M bars takes ~0.3-0.8 s where pandas ``to_csv``
takes ~20 s and pyarrow's CSV writer several seconds, and the server's COPY is cheaper too.

NULLs: a NaN in a float column and ``pd.NA`` become SQL NULL (pandas' missing value), so a
NaN can never be stored; prices and sizes are never NaN in a valid bar or tick anyway.
Timestamps must be timezone-aware; they are stored to the microsecond (PostgreSQL's
resolution), and a value finer than that is refused rather than rounded silently.

Only fixed-width types are supported (``timestamptz``, ``float8``, ``int8``, ``int4``,
``int2``, ``bool``). The text columns of a load (timeframe, source, run id) are the same in
every row, so they go in as ``constants``, which are fixed-width too.
"""

from __future__ import annotations

import contextlib
import io
import logging
import time
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
from psycopg2 import sql

from candleflow import frames
from candleflow.domain import TICKS, pg_types

log = logging.getLogger(__name__)

_HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
_TRAILER = (-1).to_bytes(2, "big", signed=True)
_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01T00:00:00Z in microseconds since 1970

#: PostgreSQL type -> numpy big-endian wire dtype of its binary send format.
WIRE_TYPES: dict[str, str] = {
    "timestamptz": ">i8",
    "float8": ">f8",
    "int8": ">i8",
    "int4": ">i4",
    "int2": ">i2",
    "bool": "u1",
}


def _values(frame: Any, name: str, pg_type: str) -> tuple[np.ndarray, np.ndarray | None]:
    """One column as wire-ready numpy values plus a NULL mask (None when it has no NULL)."""
    import pandas as pd

    column = frame[name]
    if pg_type == "timestamptz":
        if not isinstance(column.dtype, pd.DatetimeTZDtype):
            raise ValueError(
                f"column {name!r} must be timezone-aware datetime64 (UTC), got {column.dtype}"
            )
        if column.dtype.unit == "us":  # canonical (``candleflow.frames``): read as it is
            micros = frames.ts_micros(column)
            return micros - _PG_EPOCH_US, _mask(micros == frames.NAT)
        mask = column.isna().to_numpy()
        raw = column.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
        micros = raw.astype("datetime64[us]")
        if raw.dtype != micros.dtype and (raw != micros).any():
            raise ValueError(f"column {name!r} has sub-microsecond timestamps")
        values = micros.view("i8") - _PG_EPOCH_US
    elif pg_type == "float8":
        values = column.to_numpy(dtype="float64", na_value=np.nan)
        mask = np.isnan(values)
    else:
        mask = column.isna().to_numpy()
        fill = False if pg_type == "bool" else 0
        values = column.fillna(fill).to_numpy() if mask.any() else column.to_numpy()
    return values, _mask(mask)


def _mask(mask: np.ndarray) -> np.ndarray | None:
    return mask if mask.any() else None


def encode_binary(
    frame: Any, columns: Mapping[str, str], constants: Mapping[str, Any] | None = None
) -> bytes:
    """The ``COPY ... (FORMAT binary)`` image of ``frame[columns]`` plus ``constants``.

    Every row is built at fixed width in one numpy structured array; when some cells are
    NULL, their 8 (or 4, 2, 1) value bytes are cut out afterwards and their length set to -1.
    ``constants`` (name -> value: str as text, int as int4) are the same in every row, which
    keeps even text fixed-width; they follow the frame's columns, in order.
    """
    constants = dict(constants or {})
    unsupported = {name: t for name, t in columns.items() if t not in WIRE_TYPES}
    if unsupported:
        raise ValueError(
            f"unsupported type(s) {unsupported}; expected one of {', '.join(WIRE_TYPES)}"
        )
    fields: list[tuple[str, str]] = [("n", ">i2")]
    for i, pg_type in enumerate(columns.values()):
        fields += [(f"l{i}", ">i4"), (f"v{i}", WIRE_TYPES[pg_type])]
    wire_constants = {name: _constant(value) for name, value in constants.items()}
    for j, (_value, dtype) in enumerate(wire_constants.values()):
        fields += [(f"cl{j}", ">i4"), (f"cv{j}", dtype)]
    rows = np.empty(len(frame), dtype=np.dtype(fields))
    rows["n"] = len(columns) + len(constants)
    for j, (value, dtype) in enumerate(wire_constants.values()):
        rows[f"cl{j}"] = np.dtype(dtype).itemsize
        rows[f"cv{j}"] = value
    null_cells: list[np.ndarray] = []
    for i, (name, pg_type) in enumerate(columns.items()):
        values, mask = _values(frame, name, pg_type)
        rows[f"v{i}"] = values
        rows[f"l{i}"] = np.dtype(WIRE_TYPES[pg_type]).itemsize
        if mask is not None:
            rows[f"l{i}"][mask] = -1
            offset, width = rows.dtype.fields[f"v{i}"][1], np.dtype(WIRE_TYPES[pg_type]).itemsize
            starts = np.flatnonzero(mask) * rows.dtype.itemsize + offset
            null_cells.append((starts[:, None] + np.arange(width)).ravel())
    body = rows.view(np.uint8)
    if null_cells:
        keep = np.ones(body.size, dtype=bool)
        for cells in null_cells:
            keep[cells] = False
        body = body[keep]
    return _HEADER + body.tobytes() + _TRAILER


def _constant(value: Any) -> tuple[Any, str]:
    """A constant column's wire value and dtype: text as its UTF-8 bytes, int as int4."""
    if isinstance(value, str) and value:
        return value.encode(), f"S{len(value.encode())}"
    if isinstance(value, int) and not isinstance(value, bool):
        return value, ">i4"
    raise ValueError(f"unsupported constant {value!r}; expected a non-empty str or an int")


def as_pandas(frame: Any) -> Any:
    """Accept a pyarrow Table too: its columns become pandas ones without a copy where possible."""
    return frame.to_pandas() if hasattr(frame, "column_names") else frame


def copy_frame(
    conn,
    table: str | sql.Composable,
    frame: Any,
    columns: Mapping[str, str],
    constants: Mapping[str, Any] | None = None,
) -> int:
    """COPY ``frame``'s ``columns`` (name -> PostgreSQL type) into ``table``; returns the rows.

    Runs on ``conn`` inside its current transaction: nothing is visible until the caller
    commits. ``table`` is a bare name, or a composed ``sql.Identifier("schema", "table")``;
    ``constants`` fill columns that are the same in every row (see ``encode_binary``).
    """
    constants = dict(constants or {})
    frame = as_pandas(frame)
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise ValueError(f"frame lacks column(s) {missing}; has {list(frame.columns)}")
    target = sql.Identifier(table) if isinstance(table, str) else table
    began = time.perf_counter()
    payload = encode_binary(frame, columns, constants)
    query = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(
        target, sql.SQL(", ").join(map(sql.Identifier, [*columns, *constants]))
    )
    with conn.cursor() as cur:
        # one read of the whole image: psycopg2 re-takes the GIL for every chunk it reads,
        # and behind a busy thread (the collector's reader) each take can wait ~5 ms
        cur.copy_expert(query, io.BytesIO(payload), size=max(len(payload), 8192))
        copied = cur.rowcount
    log.debug(
        "copied %d rows (%d bytes) into %s in %.3fs",
        copied,
        len(payload),
        target.as_string(conn),
        time.perf_counter() - began,
    )
    return copied


@contextlib.contextmanager
def staged(conn, name: str, frame: Any, columns: Mapping[str, str]) -> Iterator[sql.Identifier]:
    """A temporary table holding ``frame``, for an ``INSERT ... SELECT`` from it.

    The table lives in the caller's transaction: a rollback (or a killed client, whose
    backend rolls back) leaves no trace, and ``ON COMMIT DROP`` cleans up even if the
    ``DROP`` at exit is skipped by an error. It is dropped at exit so that several loads can
    share one transaction.
    """
    table = sql.Identifier(name)
    definition = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(col), sql.SQL(pg_type))
        for col, pg_type in columns.items()
    )
    with conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE TEMP TABLE {} ({}) ON COMMIT DROP").format(table, definition))
    copy_frame(conn, table, frame, columns)
    yield table
    with conn.cursor() as cur:
        cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))


TICK_COLUMNS = pg_types(TICKS)  # ts, seq, price, size, day_volume, bid, ask: the one spec
