"""Compress closed bars into segments, read them back, and rewrite one on a late correction.

The writer of ``candleflow.bar_segments`` (the format is ``candleflow.db.segments``). Every
function runs in the caller's psycopg2 transaction and never commits, like the bar writer:

- ``compress_segment`` encodes one series' bars of one segment from ``candleflow.bars``
  and upserts its segment (``remove_rows=True`` then deletes those rows: only for a
  warehouse whose readers read segments, since the plain reads do not);
- ``closed_segments`` lists the segments with plain rows whose end is before a cut-off;
- ``read_segment`` decodes a stored segment in Python (numpy), ``merge_segment`` merges
  corrected or new bars into one: a changed bar takes the new values and the new load's
  provenance, an equal one keeps its own, and a merge that changes nothing writes nothing,
  so loads stay idempotent.

Arrays travel as text literals (``{1,2,...}``): a 44,640-element array parses far faster
from one literal than from an ``ARRAY[...]`` expression of as many parameters.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from psycopg2 import sql

from candleflow.db import segments
from candleflow.db.locks import lock_series
from candleflow.domain import BAR_COLUMNS, Timeframe

log = logging.getLogger(__name__)

_VALUES = ["open", "high", "low", "close", "volume", "filled"]
_INT_ARRAYS = ("ts_delta", "open_delta", "high_delta", "low_delta", "close_delta", "volume_int")
_FLOAT_ARRAYS = ("open_float", "high_float", "low_float", "close_float", "volume_float")
_COLUMNS = [
    *("instrument_id", "timeframe", "source", "segment_start", "segment_end", "bars"),
    *("first_ts", "last_ts", "ts_delta", "price_scale", "close_base"),
    *("open_delta", "high_delta", "low_delta", "close_delta"),
    *("open_float", "high_float", "low_float", "close_float"),
    *("volume_scale", "volume_int", "volume_float", "filled", "load_first", "loaded_at", "run_id"),
]
_SEGMENTS = sql.Identifier("candleflow", "bar_segments")
_UPSERT = sql.SQL(
    "INSERT INTO {table} ({columns}) VALUES ({values})"
    " ON CONFLICT (instrument_id, timeframe, source, segment_start) DO UPDATE SET"
    " ({updated}, compressed_at) = ({excluded}, now())"
).format(
    table=_SEGMENTS,
    columns=sql.SQL(", ").join(map(sql.Identifier, _COLUMNS)),
    values=sql.SQL(", ").join(map(sql.Placeholder, _COLUMNS)),
    updated=sql.SQL(", ").join(map(sql.Identifier, _COLUMNS[4:])),
    excluded=sql.SQL(", ").join(sql.Identifier("excluded", c) for c in _COLUMNS[4:]),
)
_READ = sql.SQL(
    "SELECT {columns} FROM {table}"
    " WHERE instrument_id = %s AND timeframe = %s AND source = %s AND segment_start = %s"
).format(columns=sql.SQL(", ").join(map(sql.Identifier, _COLUMNS[3:])), table=_SEGMENTS)
_PLAIN_ROWS = """
SELECT ts, open, high, low, close, volume, filled, loaded_at, run_id FROM candleflow.bars
WHERE instrument_id = %(instrument_id)s AND timeframe = %(timeframe)s AND source = %(source)s
  AND ts >= %(segment_start)s AND ts < %(segment_end)s
ORDER BY ts
"""


class SegmentKey(NamedTuple):
    """What identifies a segment (the primary key of ``bar_segments``)."""

    instrument_id: int
    timeframe: str
    source: str
    segment_start: dt.datetime


class MergeCounts(NamedTuple):
    inserted: int
    updated: int
    unchanged: int


def _literal(values: np.ndarray | None, integer: bool) -> str | None:
    """A PostgreSQL array literal of numbers; NaN becomes NULL. Floats are written in
    Python's shortest round-trip form, which PostgreSQL parses back to the same double."""
    if values is None:
        return None
    if values.dtype.kind != "f":
        return "{" + ",".join(map(str, values.tolist())) + "}"
    write = (lambda v: str(int(v))) if integer else repr
    return "{" + ",".join("NULL" if v != v else write(v) for v in values.tolist()) + "}"


def _params(key: SegmentKey, seg: segments.Segment) -> dict[str, Any]:
    params: dict[str, Any] = dict(key._asdict())
    params.update(
        segment_end=seg.segment_end,
        bars=seg.bars,
        first_ts=seg.first_ts,
        last_ts=seg.last_ts,
        price_scale=seg.price_scale,
        close_base=seg.close_base,
        volume_scale=seg.volume_scale,
        filled=None if seg.filled is None else seg.filled.tolist(),
        load_first=seg.load_first,
        loaded_at=seg.loaded_at,
        run_id=seg.run_id,
    )
    arrays = {"ts_delta": seg.ts_delta, "volume_int": seg.volume_int, **seg.ints}
    arrays.update(seg.floats, volume_float=seg.volume_float)
    for name in _INT_ARRAYS:
        params[name] = _literal(arrays.get(name), integer=True)
    for name in _FLOAT_ARRAYS:
        params[name] = _literal(arrays.get(name), integer=False)
    return params


def write_segment(conn, key: SegmentKey, seg: segments.Segment) -> None:
    """Insert or replace the segment ``key``."""
    with conn.cursor() as cur:
        cur.execute(_UPSERT, _params(key, seg))


def segment_key(instrument_id: int, timeframe: str, source: str, ts: dt.datetime) -> SegmentKey:
    """The key of the segment that holds the bar of this series starting at ``ts``."""
    start, _end = segments.segment_bounds(timeframe, ts)
    return SegmentKey(instrument_id, Timeframe.parse(timeframe).name, source, start)


def compress_segment(conn, key: SegmentKey, *, remove_rows: bool = False) -> int:
    """Encode the plain rows of segment ``key`` into ``bar_segments``; returns the bars.

    Merges into an existing segment (rows compressed earlier stay), under the series'
    lock so that a load of the same series waits. None are removed unless asked.
    """
    lock_series(conn, key.instrument_id, key.timeframe)
    _start, end = segments.segment_bounds(key.timeframe, key.segment_start)
    params = key._asdict() | {"segment_end": end}
    with conn.cursor() as cur:
        cur.execute(_PLAIN_ROWS, params)
        rows = cur.fetchall()
    if not rows:
        return 0
    frame = pd.DataFrame(rows, columns=[*BAR_COLUMNS, "filled", "loaded_at", "run_id"])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True).astype("datetime64[us, UTC]")
    frame["volume"] = frame["volume"].astype(np.float64)
    stored = read_segment(conn, key)
    if stored is not None:
        frame = _union(stored, frame)
    write_segment(conn, key, segments.encode(frame, key.timeframe, price_scale=_scale(conn, key)))
    if remove_rows:
        with conn.cursor() as cur:
            cur.execute(
                "DELETE FROM candleflow.bars WHERE instrument_id = %(instrument_id)s"
                " AND timeframe = %(timeframe)s AND source = %(source)s"
                " AND ts >= %(segment_start)s AND ts < %(segment_end)s",
                params,
            )
    log.info("compressed %s %s %s %s: %d bars", *key, len(rows))
    return len(rows)


def _scale(conn, key: SegmentKey) -> int | None:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT price_scale FROM candleflow.instruments WHERE id = %s", (key.instrument_id,)
        )
        row = cur.fetchone()
    return row[0] if row else None


def _union(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """``old`` bars with ``new`` ones added or replacing them (by ts), in ts order."""
    merged = pd.concat([old[~old["ts"].isin(new["ts"])], new], ignore_index=True)
    return merged.sort_values("ts", kind="stable", ignore_index=True)


def closed_segments(
    conn, before: dt.datetime, timeframes: list[str] | None = None
) -> list[SegmentKey]:
    """Segments that end by ``before`` and still have plain rows in ``candleflow.bars``."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT DISTINCT instrument_id, timeframe, source, date_trunc('month', ts, 'UTC')"
            " FROM candleflow.bars WHERE ts < %s"
            " AND (%s::text[] IS NULL OR timeframe = ANY(%s::text[])) ORDER BY 1, 2, 3, 4",
            (before, timeframes, timeframes),
        )
        months = cur.fetchall()
    keys = {segment_key(i, tf, src, month) for i, tf, src, month in months}
    return sorted(
        k for k in keys if segments.segment_bounds(k.timeframe, k.segment_start)[1] <= before
    )


def read_segment(conn, key: SegmentKey) -> pd.DataFrame | None:
    """The decoded bars of segment ``key`` (see ``segments.decode``), or None."""
    names = _COLUMNS[3:]
    with conn.cursor() as cur:
        cur.execute(_READ, tuple(key))
        row = cur.fetchone()
    if row is None:
        return None
    values = dict(zip(names, row, strict=True))
    seg = segments.Segment(
        *(values[n] for n in ("segment_start", "segment_end", "bars", "first_ts", "last_ts")),
        ts_delta=np.asarray(values["ts_delta"], np.int64),
        price_scale=values["price_scale"],
        close_base=values["close_base"],
        ints={n: np.asarray(values[n], np.int64) for n in _INT_ARRAYS[1:5] if values[n]},
        floats={n: np.asarray(values[n], np.float64) for n in _FLOAT_ARRAYS[:4] if values[n]},
        volume_scale=values["volume_scale"],
        volume_int=None
        if values["volume_int"] is None
        else np.array(values["volume_int"], np.float64),
        volume_float=None
        if values["volume_float"] is None
        else np.array(values["volume_float"], np.float64),
        filled=None if values["filled"] is None else np.asarray(values["filled"], bool),
        load_first=values["load_first"],
        loaded_at=values["loaded_at"],
        run_id=values["run_id"],
    )
    return segments.decode(seg)


def merge_segment(conn, key: SegmentKey, bars: Any, *, run_id: str) -> MergeCounts:
    """Merge ``bars`` (``BAR_COLUMNS``, optional ``filled``) into segment ``key``.

    What the bar writer does for a bar of a compressed month: a bar whose values differ
    (``IS DISTINCT FROM``, NaN volume = NULL) is updated, a new ts inserted, an equal bar
    left as it was with its provenance; the segment is rewritten only when something
    changed. Runs under the series' lock, in the caller's transaction.
    """
    lock_series(conn, key.instrument_id, key.timeframe)
    new = pd.DataFrame(bars).copy()
    new["filled"] = new["filled"].fillna(False).astype(bool) if "filled" in new else False
    new = new.drop_duplicates("ts", keep="last")
    old = read_segment(conn, key)
    if old is None:
        old = new.iloc[:0].assign(loaded_at=pd.NaT, run_id=None)
    both = new.merge(old, on="ts", how="left", suffixes=("", "_old"), indicator=True)
    fresh = (both["_merge"] == "left_only").to_numpy()
    same = np.ones(len(both), bool)
    for col in _VALUES:
        a, b = both[col].to_numpy(), both[f"{col}_old"].to_numpy()
        same &= (a == b) | (pd.isna(a) & pd.isna(b))
    changed = ~fresh & ~same
    counts = MergeCounts(int(fresh.sum()), int(changed.sum()), int((~fresh & same).sum()))
    if counts.inserted or counts.updated:
        with conn.cursor() as cur:
            cur.execute("SELECT now()")  # the transaction's time, as loaded_at in bars
            (now,) = cur.fetchone()
        written = new[fresh | changed].assign(loaded_at=pd.Timestamp(now), run_id=run_id)
        frame = _union(old, written[[*BAR_COLUMNS, "filled", "loaded_at", "run_id"]])
        write_segment(
            conn, key, segments.encode(frame, key.timeframe, price_scale=_scale(conn, key))
        )
    log.info(
        "merged into segment %s %s %s %s: %d inserted, %d updated, %d unchanged", *key, *counts
    )
    return counts
