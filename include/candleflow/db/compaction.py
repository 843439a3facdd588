"""The live warehouse's compressed closed months: compress them, write into them, size them.

``candleflow.db.compress`` encodes and rewrites one segment; this module is what the rest of
the warehouse calls:

- ``compress_closed``: every segment whose end is older than the age
  (``CANDLEFLOW_COMPRESS_AFTER``, default ``2mo``; ``candleflow db compress --older-than``)
  moves from ``candleflow.bars`` into ``candleflow.bar_segments`` (plain rows removed), one
  transaction per segment, so a failure keeps every segment done before it and a re-run
  picks up the rest;
- ``merge_closed``: the bar writer's hook. Bars of a series whose segment is compressed
  are merged into that segment (``compress.merge_segment``: rewritten only when a value
  changed) and counted in the load's counts; the rest go on to the plain rows. Why route
  rather than write plain rows beside the segment: a month then lives in one place, so
  reads never have to reconcile two copies of a bar;
- ``sizes``: bytes per bar by timeframe and state (open rows, compressed segments).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any, NamedTuple

import pandas as pd

from candleflow import config
from candleflow.db import compress, connection, retention, segments
from candleflow.errors import ConfigError

log = logging.getLogger(__name__)

COMPRESS_AFTER_ENV = "CANDLEFLOW_COMPRESS_AFTER"
DEFAULT_AGE = "2mo"
_AGE = re.compile(r"^[1-9]\d*(d|w|mo|y)$")

_COMPRESSED_SEGMENTS = """
SELECT segment_start FROM candleflow.bar_segments
WHERE instrument_id = %s AND timeframe = %s AND source = %s
  AND segment_start <= %s AND segment_end > %s
"""
_SIZES = """
WITH open AS (
    SELECT timeframe, count(*) AS bars FROM candleflow.bars GROUP BY timeframe
), packed AS (
    SELECT timeframe, sum(bars) AS bars,
           sum(pg_column_size(s.*)::bigint + coalesce(pg_column_size(ts_delta), 0)
               + coalesce(pg_column_size(open_delta), 0) + coalesce(pg_column_size(high_delta), 0)
               + coalesce(pg_column_size(low_delta), 0) + coalesce(pg_column_size(close_delta), 0)
               + coalesce(pg_column_size(open_float), 0) + coalesce(pg_column_size(high_float), 0)
               + coalesce(pg_column_size(low_float), 0) + coalesce(pg_column_size(close_float), 0)
               + coalesce(pg_column_size(volume_int), 0)
               + coalesce(pg_column_size(volume_float), 0)) AS weight
    FROM candleflow.bar_segments AS s GROUP BY timeframe
)
SELECT 'open', o.timeframe, o.bars,
       (SELECT sum(pg_total_relation_size(t.relid))  -- bars is partitioned (migration 0022)
        FROM pg_partition_tree('candleflow.bars') AS t) * o.bars / sum(o.bars) OVER ()
FROM open AS o
UNION ALL
SELECT 'compressed', p.timeframe, p.bars,
       pg_total_relation_size('candleflow.bar_segments') * p.weight / sum(p.weight) OVER ()
FROM packed AS p
ORDER BY 1 DESC, 2
"""


class Size(NamedTuple):
    """One timeframe in one state: bars and the bytes they take on disk."""

    state: str  # open (plain rows of candleflow.bars) or compressed (bar_segments)
    timeframe: str
    bars: int
    bytes: int

    @property
    def bytes_per_bar(self) -> float:
        return self.bytes / self.bars if self.bars else 0.0


def cutoff(older_than: str | None = None, now: dt.datetime | None = None) -> dt.datetime:
    """The instant segments must end by to be compressed: now minus ``older_than`` (else
    ``CANDLEFLOW_COMPRESS_AFTER``, else 2 months), ages in d, w, mo or y."""
    age = (older_than or config.setting(COMPRESS_AFTER_ENV) or DEFAULT_AGE).strip()
    if not _AGE.match(age):
        raise ConfigError(
            f"bad age {age!r} to compress after; expected N followed by d, w, mo or y (N > 0),"
            f" e.g. 2mo or 90d ({COMPRESS_AFTER_ENV})"
        )
    return retention.Rule("bars", age).cutoff(now or dt.datetime.now(dt.UTC))


def compress_closed(url: str, older_than: str | None = None) -> dict[str, Any]:
    """Compress every segment with plain rows that ended before the cut-off; one
    transaction per segment. Returns the segments and bars moved, and the cut-off."""
    before = cutoff(older_than)
    conn = connection.connect(url)
    moved = 0
    try:
        with conn:
            keys = compress.closed_segments(conn, before)
        for key in keys:
            with conn:
                moved += compress.compress_segment(conn, key, remove_rows=True)
    finally:
        conn.close()
    log.info("compressed %d segments (%d bars) that ended before %s", len(keys), moved, before)
    return {"segments": len(keys), "bars": moved, "before": before.isoformat()}


def merge_closed(
    conn, instrument_id: int, timeframe: str, source: str, frame: Any, *, run_id: str
) -> tuple[Any, tuple[int, int, int]]:
    """Merge the bars of ``frame`` that fall in compressed segments into those segments.

    Returns the bars left for the plain rows and (inserted, updated, unchanged) of the
    merged ones. One indexed look-up when the series has no compressed segment in the
    frame's span, the common case of a load into the open month.
    """
    lo, hi = frame["ts"].min().to_pydatetime(), frame["ts"].max().to_pydatetime()
    with conn.cursor() as cur:
        cur.execute(_COMPRESSED_SEGMENTS, (instrument_id, timeframe, source, hi, lo))
        starts = {row[0] for row in cur.fetchall()}
    if not starts:
        return frame, (0, 0, 0)
    naive = frame["ts"].dt.tz_convert("UTC").dt.tz_localize(None)
    period = "M" if timeframe in segments.MONTHLY else "Y"
    segment = naive.dt.to_period(period).dt.start_time.dt.tz_localize("UTC")
    packed = segment.isin(pd.DatetimeIndex(sorted(starts)).tz_convert("UTC")).to_numpy(bool)
    totals = [0, 0, 0]
    for start, bars in frame[packed].groupby(segment[packed], sort=True):
        key = compress.SegmentKey(instrument_id, timeframe, source, start.to_pydatetime())
        counts = compress.merge_segment(conn, key, bars, run_id=run_id)
        totals = [a + b for a, b in zip(totals, counts, strict=True)]
    return frame[~packed], (totals[0], totals[1], totals[2])


def sizes(conn) -> list[Size]:
    """Bytes per bar by state and timeframe. Open rows share one table, so each open
    timeframe gets the table's bytes in proportion to its rows; compressed timeframes
    share ``bar_segments`` in proportion to their stored (compressed) array bytes."""
    with conn.cursor() as cur:
        cur.execute(_SIZES)
        rows = cur.fetchall()
    return [Size(state, tf, int(bars), int(size)) for state, tf, bars, size in rows]
