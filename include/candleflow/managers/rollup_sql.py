"""The computing SQL of the rollup: ticks -> 1m bars -> higher timeframes, inside PostgreSQL.

These statements only read the warehouse and fill the rollup's scratch tables (temporary,
``ON COMMIT DROP``); ``candleflow.db.rollup_state`` consumes and sets the dirty marks and
``candleflow.db.bars`` writes the bars. The ``BarManager`` calls them in order.

Why it is shaped like this (measured in ``benchmarks/bench_rollup.py``): the obvious
``GROUP BY date_bin(...)`` with ``array_agg(price ORDER BY ts, seq)`` for open and close
sorts every group. Here the 1m level is one hash aggregate over the dirty ticks (min/max
``ts``, high, low, summed size: no sort at all), after which open and close are two primary
key probes per bar (the first ``seq`` at the first ``ts``, the last at the last ``ts``).
There is one bar per minute and usually many ticks, so the probes are cheap.

Which ticks are trades: every tick with a price. A quote-only update (bid/ask changed) has
no price, or repeats the previous tick's ``(ts, price, day_volume)`` with no size (that is
what the TradingView quote stream sends). Such a repeat lies in the same minute as the tick
it repeats and carries its price, so it can change no open, high, low or close, and its
volume increment is 0: counting it is exactly the same as filtering it, and cheaper.

Volume per tick is ``size`` when the tick has one; otherwise the increase of the cumulative
``day_volume`` over the previous size-less tick of the instrument (ordered by ``ts, seq``),
where a decrease means a new session, counted from 0. The very first tick of an instrument
has no previous value and contributes 0. Per-tick increments add up, so a 5m bar is the
sum of its 1m bars, and a reconnect gap is credited to the first bar after it.
"""

from __future__ import annotations

from collections.abc import Sequence

from psycopg2 import sql
from psycopg2.extras import execute_values

#: Scratch tables shared by the levels of one rollup.
SCRATCH = """
CREATE TEMP TABLE _rollup_written (instrument_id integer NOT NULL, ts timestamptz NOT NULL)
    ON COMMIT DROP;
CREATE TEMP TABLE _rollup_changed (
    timeframe text NOT NULL, instrument_id integer NOT NULL,
    lo timestamptz NOT NULL, hi timestamptz NOT NULL
) ON COMMIT DROP;
CREATE TEMP TABLE _rollup_sessions (
    instrument_id integer PRIMARY KEY, tz text NOT NULL,
    open_offset interval NOT NULL, length interval NOT NULL
) ON COMMIT DROP;
CREATE TEMP TABLE _rollup_grids (
    instrument_id integer PRIMARY KEY, tz text NOT NULL, origin interval NOT NULL,
    calendar text NOT NULL
) ON COMMIT DROP;
CREATE TEMP TABLE _rollup_days (
    calendar text NOT NULL, open timestamptz NOT NULL, close timestamptz NOT NULL,
    PRIMARY KEY (calendar, open)
) ON COMMIT DROP;
"""

#: The instruments whose sessions and grids the rollup needs: those with minutes taken (read
#: after taking them, so a minute committed meanwhile cannot lack its session) and those
#: with pending buckets of any level (a bar built from them marks the level above).
SESSION_INSTRUMENTS = """
SELECT i.id, i.symbol, i.exchange, i.timezone, i.session FROM candleflow.instruments i
WHERE i.id IN (SELECT instrument_id FROM _rollup_minutes)
   OR EXISTS (SELECT 1 FROM candleflow.rollup_dirty d WHERE d.instrument_id = i.id)
"""

#: The span of the minutes taken per calendar of a session market: the sessions to stage.
CALENDAR_SPANS = """
SELECT g.calendar, min(m.ts), max(m.ts) + interval '1 minute'
FROM _rollup_minutes m JOIN _rollup_grids g USING (instrument_id) GROUP BY 1
"""

#: A session market's 1m bars outside its regular sessions: not part of the series. A
#: session is shorter than a day, so the one holding a bar opened less than a day before it.
OUTSIDE_SESSIONS = """
DELETE FROM _rollup_bars b USING _rollup_grids g
WHERE b.instrument_id = g.instrument_id AND NOT EXISTS (
    SELECT 1 FROM _rollup_days d
    WHERE d.calendar = g.calendar AND d.open > b.ts - interval '1 day' AND d.open <= b.ts
      AND d.close > b.ts)
"""

#: How the 1m level reads the ticks of the ranges. A hash join over a sequential scan is
#: fastest when the ranges cover most of the table (a first rollup, a backfill); a
#: LATERAL index range scan per range when they are a small part of it (the steady state),
#: where the planner, blind to range selectivity, would otherwise still scan the table.
TICKS_BY_SCAN = sql.SQL(
    """JOIN candleflow.ticks t ON t.instrument_id = r.instrument_id
         AND t.ts >= r.start_ts AND t.ts < r.end_ts"""
)
TICKS_BY_INDEX = sql.SQL(
    """CROSS JOIN LATERAL (
        SELECT t.instrument_id, t.ts, t.price, t.size FROM candleflow.ticks t
        WHERE t.instrument_id = r.instrument_id AND t.ts >= r.start_ts AND t.ts < r.end_ts
        OFFSET 0) t"""
)

#: Is the table much larger than the dirty minutes? Counting stops at 8x the dirty
#: minutes, so the answer costs O(new ticks) (planner statistics may lag a bulk load).
MANY_BARS_STORED = """
SELECT count(*) > 8 * (SELECT count(*) FROM _rollup_minutes)
FROM (SELECT 1 FROM candleflow.bars
      LIMIT 8 * (SELECT count(*) FROM _rollup_minutes) + 1) x
"""

#: The 1m bars of the dirty ranges (see the module docstring for the shape).
_MINUTE_BARS = sql.SQL(
    """
CREATE TEMP TABLE _rollup_bars ON COMMIT DROP AS
WITH agg AS MATERIALIZED (
    SELECT t.instrument_id, date_bin('1 minute', t.ts, timestamptz '1970-01-01 00:00+00') AS ts,
           min(t.ts) AS first_ts, max(t.ts) AS last_ts,
           max(t.price) AS high, min(t.price) AS low, sum(t.size) AS size_volume
    FROM _rollup_ranges r
    {ticks}
    WHERE t.price IS NOT NULL
    GROUP BY 1, 2
), increments AS (
    SELECT x.instrument_id, date_bin('1 minute', x.ts, timestamptz '1970-01-01 00:00+00') AS ts,
           sum(CASE WHEN x.prev IS NULL THEN 0
                    WHEN x.day_volume >= x.prev THEN x.day_volume - x.prev
                    ELSE x.day_volume END) AS volume
    FROM (
        SELECT t.instrument_id, t.ts, t.day_volume, r.start_ts,
               lag(t.day_volume) OVER (PARTITION BY t.instrument_id, r.start_ts
                                       ORDER BY t.ts, t.seq) AS prev
        FROM _rollup_ranges r
        CROSS JOIN LATERAL (  -- an index range scan per range, from the tick before it
            SELECT t.instrument_id, t.ts, t.seq, t.day_volume FROM candleflow.ticks t
            WHERE t.instrument_id = r.instrument_id AND t.ts < r.end_ts
              AND t.ts >= COALESCE((
                SELECT p.ts FROM candleflow.ticks p
                WHERE p.instrument_id = r.instrument_id AND p.ts < r.start_ts
                  AND p.price IS NOT NULL AND p.size IS NULL AND p.day_volume IS NOT NULL
                ORDER BY p.ts DESC, p.seq DESC LIMIT 1), r.start_ts)
              AND t.price IS NOT NULL AND t.size IS NULL AND t.day_volume IS NOT NULL
            OFFSET 0) t
        WHERE r.cumulative
    ) x
    WHERE x.ts >= x.start_ts
    GROUP BY 1, 2
)
SELECT a.instrument_id, a.ts,
       (SELECT o.price FROM candleflow.ticks o
        WHERE o.instrument_id = a.instrument_id AND o.ts = a.first_ts AND o.price IS NOT NULL
        ORDER BY o.seq LIMIT 1) AS open,
       a.high, a.low,
       (SELECT c.price FROM candleflow.ticks c
        WHERE c.instrument_id = a.instrument_id AND c.ts = a.last_ts AND c.price IS NOT NULL
        ORDER BY c.seq DESC LIMIT 1) AS close,
       CASE WHEN a.size_volume IS NULL AND i.volume IS NULL THEN NULL
            ELSE COALESCE(a.size_volume, 0) + COALESCE(i.volume, 0) END AS volume
FROM agg a LEFT JOIN increments i USING (instrument_id, ts)
"""
)

#: A higher level's bars from its parent level's (``_rollup_taken``: the buckets to build).
#: One primary-key range scan per bucket (LATERAL), never a join of buckets and bars on
#: the instrument alone: ``bars`` has just been written in this transaction, its statistics
#: are stale, and the planner's hash join on ``instrument_id`` with a ts filter compared
#: every bucket with every bar of the instrument (a year of one symbol: 10^10 comparisons).
BUILD_FROM_PARENT = """
CREATE TEMP TABLE _rollup_bars ON COMMIT DROP AS
SELECT d.instrument_id, d.ts, x.open, x.high, x.low, x.close, x.volume
FROM _rollup_taken d
CROSS JOIN LATERAL (
    SELECT (array_agg(b.open ORDER BY b.ts))[1] AS open, max(b.high) AS high,
           min(b.low) AS low, (array_agg(b.close ORDER BY b.ts DESC))[1] AS close,
           sum(b.volume) AS volume
    FROM candleflow.bars b
    WHERE b.instrument_id = d.instrument_id AND b.timeframe = %(parent)s
      AND b.source = 'rollup' AND b.ts >= d.ts AND b.ts < d.end_ts AND NOT b.filled
) x
WHERE x.open IS NOT NULL;
DROP TABLE _rollup_taken;
"""


def create_scratch(cur) -> None:
    cur.execute("SET LOCAL jit = off")  # compiling costs more than these queries
    cur.execute(SCRATCH)


def session_instruments(cur) -> list[tuple[int, str, str | None, str, str]]:
    """(id, symbol, exchange, timezone, session) of every instrument this rollup may build
    bars for."""
    cur.execute(SESSION_INSTRUMENTS)
    return cur.fetchall()


def calendar_spans(cur) -> list[tuple]:
    """(calendar, first minute, end of the last minute) of the session markets' minutes."""
    cur.execute(CALENDAR_SPANS)
    return cur.fetchall()


def stage_sessions(cur, rows: Sequence[tuple]) -> None:
    """Fill ``_rollup_sessions`` with (instrument id, tz, open offset, length) rows."""
    if rows:
        execute_values(cur, "INSERT INTO _rollup_sessions VALUES %s", rows)


def stage_grids(cur, rows: Sequence[tuple]) -> None:
    """Fill ``_rollup_grids`` with the (instrument id, tz, origin, calendar) of session
    markets."""
    if rows:
        execute_values(cur, "INSERT INTO _rollup_grids VALUES %s", rows)


def stage_days(cur, rows: Sequence[tuple]) -> None:
    """Fill ``_rollup_days`` with the (calendar, open, close) of regular sessions."""
    if rows:
        execute_values(cur, "INSERT INTO _rollup_days VALUES %s", rows)
        cur.execute("ANALYZE _rollup_days")


def drop_outside_sessions(cur) -> int:
    """Drop the 1m bars of session markets outside their sessions; returns how many."""
    cur.execute(OUTSIDE_SESSIONS)
    return cur.rowcount


def build_minute_bars(cur) -> None:
    """``_rollup_bars`` = the 1m bars of ``_rollup_ranges``; drops the minutes' scratch."""
    cur.execute(MANY_BARS_STORED)
    ticks = TICKS_BY_INDEX if cur.fetchone()[0] else TICKS_BY_SCAN
    cur.execute(_MINUTE_BARS.format(ticks=ticks))


def build_from_parent(cur, parent: str) -> None:
    """``_rollup_bars`` = the bars of the buckets in ``_rollup_taken``, from ``parent`` bars."""
    cur.execute(BUILD_FROM_PARENT, {"parent": parent})


def drop_minutes(cur) -> None:
    cur.execute("DROP TABLE _rollup_minutes, _rollup_ranges")
