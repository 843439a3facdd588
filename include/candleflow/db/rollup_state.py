"""The one writer of the rollup's bookkeeping: ``rollup_dirty`` and ``rollup_state``.

``rollup_dirty`` is the invalidation log of rolled-up bars, one row per instrument x
timeframe x bucket start. Its writers, all here or in the migration:

- the statement trigger of migration 0002 marks the minute of every priced tick inserted, by
  any path and in the inserting transaction, so no insert can forget it (any order, any age);
- ``mark_window`` re-marks stored ticks on request (a forced rebuild);
- ``mark_built`` marks the bucket of every higher level that a written bar falls in;
- ``take_minutes`` / ``take_buckets`` consume the closed buckets a rollup is about to build
  (a forming bucket stays until it closes).

Every function runs in the rollup's transaction (under ``locks.lock_rollup``), so a failed
rollup gives its marks back. ``rollup_state.rolled_until`` records, per instrument, the end
of the newest minute built: information for operators, no longer a cutoff for late ticks.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from psycopg2 import sql

from candleflow.domain import Timeframe

log = logging.getLogger(__name__)

#: Dirty closed minutes -> ``_rollup_minutes`` and, merged into runs of consecutive minutes
#: (fewer index scans later), ``_rollup_ranges``.
TAKE_MINUTES = """
CREATE TEMP TABLE _rollup_minutes ON COMMIT DROP AS
WITH taken AS (
    DELETE FROM candleflow.rollup_dirty
    WHERE timeframe = '1m' AND ts + interval '1 minute' <= %(now)s
      AND (%(ids)s::int[] IS NULL OR instrument_id = ANY(%(ids)s::int[]))
    RETURNING instrument_id, ts, cumulative
)
SELECT instrument_id, ts, cumulative FROM taken;

-- A new tick changes the day_volume increment of the tick right after it, which may lie in
-- the next minute: that minute is rebuilt too (cumulative volume only).
INSERT INTO _rollup_minutes (instrument_id, ts, cumulative)
SELECT DISTINCT m.instrument_id,
       date_bin('1 minute', n.ts, timestamptz '1970-01-01 00:00+00'), true
FROM _rollup_minutes m
CROSS JOIN LATERAL (
    SELECT t.ts FROM candleflow.ticks t
    WHERE t.instrument_id = m.instrument_id AND t.ts >= m.ts + interval '1 minute'
      AND t.price IS NOT NULL
    ORDER BY t.ts, t.seq LIMIT 1
) n
WHERE m.cumulative
  AND n.ts + interval '1 minute'
      <= date_bin('1 minute', %(now)s, timestamptz '1970-01-01 00:00+00')
  AND NOT EXISTS (
    SELECT 1 FROM _rollup_minutes o
    WHERE o.instrument_id = m.instrument_id
      AND o.ts = date_bin('1 minute', n.ts, timestamptz '1970-01-01 00:00+00'));

CREATE TEMP TABLE _rollup_ranges ON COMMIT DROP AS
SELECT instrument_id, min(ts) AS start_ts, max(ts) + interval '1 minute' AS end_ts,
       bool_or(cumulative) AS cumulative
FROM (
    SELECT instrument_id, ts, cumulative,
           ts - row_number() OVER (PARTITION BY instrument_id ORDER BY ts)
                * interval '1 minute' AS run
    FROM _rollup_minutes
) r
GROUP BY instrument_id, run;
ANALYZE _rollup_ranges;
"""

#: Dirty closed buckets of an intraday timeframe -> ``_rollup_taken`` with their ends.
TAKE_INTRADAY = """
CREATE TEMP TABLE _rollup_taken ON COMMIT DROP AS
WITH taken AS (
    DELETE FROM candleflow.rollup_dirty
    WHERE timeframe = %(tf)s AND ts + %(step)s <= %(now)s
      AND (%(ids)s::int[] IS NULL OR instrument_id = ANY(%(ids)s::int[]))
    RETURNING instrument_id, ts
)
SELECT instrument_id, ts, ts + %(step)s AS end_ts FROM taken;
ANALYZE _rollup_taken;
"""

#: Dirty closed sessions (``_rollup_sessions``: each instrument's day bucket) -> ``_rollup_taken``.
TAKE_DAILY = """
CREATE TEMP TABLE _rollup_taken ON COMMIT DROP AS
WITH taken AS (
    DELETE FROM candleflow.rollup_dirty d USING _rollup_sessions s
    WHERE d.timeframe = '1d' AND d.instrument_id = s.instrument_id
      AND ((d.ts AT TIME ZONE s.tz) + s.length) AT TIME ZONE s.tz <= %(now)s
      AND (%(ids)s::int[] IS NULL OR d.instrument_id = ANY(%(ids)s::int[]))
    RETURNING d.instrument_id, d.ts,
              ((d.ts AT TIME ZONE s.tz) + s.length) AT TIME ZONE s.tz AS end_ts
)
SELECT instrument_id, ts, end_ts FROM taken;
ANALYZE _rollup_taken;
"""

#: The bucket of an intraday level holding each written bar: on the UTC grid, or for a
#: session market (``_rollup_grids``) on local time from its session open (every intraday
#: step divides a day, so one day's origin is every day's).
_MARK_INTRADAY = sql.SQL(
    """SELECT w.instrument_id, {tf}::text AS timeframe,
       CASE WHEN g.tz IS NULL
            THEN date_bin({step}::interval, w.ts, timestamptz '1970-01-01 00:00+00')
            ELSE date_bin({step}::interval, w.ts AT TIME ZONE g.tz,
                          timestamp '2000-01-03 00:00' + g.origin) AT TIME ZONE g.tz
       END AS bucket
FROM w LEFT JOIN _rollup_grids g USING (instrument_id)"""
)
#: The session day holding each written bar (bars outside the session mark none).
_MARK_DAILY = sql.SQL(
    """SELECT instrument_id, '1d'::text AS timeframe,
       (day + s.open_offset) AT TIME ZONE s.tz AS bucket
FROM (
    SELECT u.instrument_id, u.ts AT TIME ZONE s.tz AS local_ts,
           date_trunc('day', (u.ts AT TIME ZONE s.tz) - s.open_offset) AS day
    FROM w u JOIN _rollup_sessions s USING (instrument_id)
) x JOIN _rollup_sessions s USING (instrument_id)
WHERE x.local_ts < x.day + s.open_offset + s.length"""
)

ADVANCE_WATERMARK = """
INSERT INTO candleflow.rollup_state AS s (instrument_id, rolled_until, last_run_id)
SELECT instrument_id, max(end_ts), %(run_id)s FROM _rollup_ranges GROUP BY instrument_id
ON CONFLICT (instrument_id) DO UPDATE
    SET rolled_until = greatest(s.rolled_until, EXCLUDED.rolled_until),
        last_run_id = EXCLUDED.last_run_id, updated_at = now()
"""

MARK_WINDOW = """
INSERT INTO candleflow.rollup_dirty AS d (instrument_id, timeframe, ts, cumulative)
SELECT instrument_id, '1m', date_bin('1 minute', ts, timestamptz '1970-01-01 00:00+00'),
       bool_or(size IS NULL AND day_volume IS NOT NULL)
FROM candleflow.ticks
WHERE instrument_id = ANY(%(ids)s::int[]) AND ts >= %(start)s AND ts < %(end)s
  AND price IS NOT NULL
GROUP BY 1, 2, 3
ON CONFLICT (instrument_id, timeframe, ts) DO UPDATE
    SET cumulative = d.cumulative OR EXCLUDED.cumulative
"""


def dirty_months(cur, *, now: dt.datetime) -> list[dt.datetime]:
    """The UTC months of the dirty closed minutes, and of the day before each (a level's
    bucket may start a day before its first minute on a session grid)."""
    cur.execute(
        "SELECT DISTINCT date_trunc('month', m, 'UTC') FROM candleflow.rollup_dirty AS d,"
        " LATERAL (VALUES (d.ts), (d.ts - interval '1 day')) AS v(m) WHERE d.ts < %s",
        (now,),
    )
    return [row[0] for row in cur.fetchall()]


def take_minutes(cur, *, now: dt.datetime, ids: list[int] | None) -> None:
    """Consume the dirty closed minutes (of ``ids``, default all) into the rollup's scratch."""
    cur.execute(TAKE_MINUTES, {"now": now, "ids": ids})


def take_buckets(cur, tf: Timeframe, *, now: dt.datetime, ids: list[int] | None) -> None:
    """Consume the dirty closed ``tf`` buckets into ``_rollup_taken (instrument_id, ts,
    end_ts)``; daily buckets end with their session (``_rollup_sessions``)."""
    if tf.name == "1d":
        cur.execute(TAKE_DAILY, {"now": now, "ids": ids})
    else:
        step = dt.timedelta(minutes=tf.minutes)
        cur.execute(TAKE_INTRADAY, {"tf": tf.name, "step": step, "now": now, "ids": ids})


def mark_built(cur, children: Sequence[Timeframe]) -> None:
    """Mark the ``children`` buckets that hold a bar in ``_rollup_written``; empty it."""
    parts, params = [], {}
    for i, child in enumerate(children):
        if child.name == "1d":
            parts.append(_MARK_DAILY)
            continue
        parts.append(
            _MARK_INTRADAY.format(tf=sql.Placeholder(f"tf_{i}"), step=sql.Placeholder(f"step_{i}"))
        )
        params[f"tf_{i}"] = child.name
        params[f"step_{i}"] = dt.timedelta(minutes=child.minutes)
    if not parts:
        cur.execute("TRUNCATE _rollup_written")
        return
    query = sql.SQL(
        "WITH w AS (DELETE FROM _rollup_written RETURNING instrument_id, ts)"
        " INSERT INTO candleflow.rollup_dirty (instrument_id, timeframe, ts)"
        " SELECT DISTINCT instrument_id, timeframe, bucket FROM ({marks}) m"
        " ON CONFLICT (instrument_id, timeframe, ts) DO NOTHING"
    ).format(marks=sql.SQL(" UNION ALL ").join(parts))
    cur.execute(query, params)


def advance_watermark(cur, *, run_id: str) -> None:
    cur.execute(ADVANCE_WATERMARK, {"run_id": run_id})


def mark_window(conn, instrument_ids: Sequence[int], start: dt.datetime, end: dt.datetime) -> int:
    """Mark every minute with ticks in ``[start, end)`` dirty; returns the minutes marked."""
    with conn.cursor() as cur:
        cur.execute(MARK_WINDOW, {"ids": list(instrument_ids), "start": start, "end": end})
        log.info("marked %d minutes dirty in [%s, %s)", cur.rowcount, start, end)
        return cur.rowcount
