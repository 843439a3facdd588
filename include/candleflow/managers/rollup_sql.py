"""The SQL of the rollup: ticks -> 1m bars -> higher timeframes, all inside PostgreSQL.

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

EPOCH = "timestamptz '1970-01-01 00:00+00'"

#: Dirty closed minutes -> one row per run of consecutive minutes (fewer index scans).
TAKE_MINUTES = f"""
CREATE TEMP TABLE _rollup_minutes ON COMMIT DROP AS
WITH taken AS (
    DELETE FROM candleflow.rollup_dirty
    WHERE timeframe = '1m' AND ts + interval '1 minute' <= %(now)s
      AND (%(ids)s::int[] IS NULL OR instrument_id = ANY(%(ids)s::int[]))
    RETURNING instrument_id, ts, cumulative
)
SELECT instrument_id, ts, cumulative FROM taken;

-- A late tick changes the day_volume increment of the tick right after it, which may
-- lie in the next minute: that minute is rebuilt too (cumulative volume only).
INSERT INTO _rollup_minutes (instrument_id, ts, cumulative)
SELECT DISTINCT m.instrument_id, date_bin('1 minute', n.ts, {EPOCH}), true
FROM _rollup_minutes m
CROSS JOIN LATERAL (
    SELECT t.ts FROM candleflow.ticks t
    WHERE t.instrument_id = m.instrument_id AND t.ts >= m.ts + interval '1 minute'
      AND t.price IS NOT NULL
    ORDER BY t.ts, t.seq LIMIT 1
) n
WHERE m.cumulative AND n.ts + interval '1 minute' <= date_bin('1 minute', %(now)s, {EPOCH})
  AND NOT EXISTS (
    SELECT 1 FROM _rollup_minutes o
    WHERE o.instrument_id = m.instrument_id AND o.ts = date_bin('1 minute', n.ts, {EPOCH}));

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

#: The 1m bars of the dirty ranges (see the module docstring for the shape).
BUILD_MINUTE_BARS = f"""
CREATE TEMP TABLE _rollup_bars ON COMMIT DROP AS
WITH agg AS MATERIALIZED (
    SELECT t.instrument_id, date_bin('1 minute', t.ts, {EPOCH}) AS ts,
           min(t.ts) AS first_ts, max(t.ts) AS last_ts,
           max(t.price) AS high, min(t.price) AS low, sum(t.size) AS size_volume
    FROM _rollup_ranges r
    /*TICKS*/
    WHERE t.price IS NOT NULL
    GROUP BY 1, 2
), increments AS (
    SELECT x.instrument_id, date_bin('1 minute', x.ts, {EPOCH}) AS ts,
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
FROM agg a LEFT JOIN increments i USING (instrument_id, ts);
"""

#: How the 1m level reads the ticks of the ranges. A hash join over a sequential scan is
#: fastest when the ranges cover most of the table (a first rollup, a backfill); a
#: LATERAL index range scan per range when they are a small part of it (the steady state),
#: where the planner, blind to range selectivity, would otherwise still scan the table.
TICKS_BY_SCAN = """JOIN candleflow.ticks t ON t.instrument_id = r.instrument_id
         AND t.ts >= r.start_ts AND t.ts < r.end_ts"""
TICKS_BY_INDEX = """CROSS JOIN LATERAL (
        SELECT t.instrument_id, t.ts, t.price, t.size FROM candleflow.ticks t
        WHERE t.instrument_id = r.instrument_id AND t.ts >= r.start_ts AND t.ts < r.end_ts
        OFFSET 0) t"""
#: Is the table much larger than the dirty minutes? Counting stops at 8x the dirty
#: minutes, so the answer costs O(new ticks) (planner statistics may lag a bulk load).
MANY_BARS_STORED = """
SELECT count(*) > 8 * (SELECT count(*) FROM _rollup_minutes)
FROM (SELECT 1 FROM candleflow.bars
      LIMIT 8 * (SELECT count(*) FROM _rollup_minutes) + 1) x
"""

#: Dirty closed buckets of an intraday timeframe, built from its parent level's bars.
BUILD_INTRADAY_BARS = """
CREATE TEMP TABLE _rollup_bars ON COMMIT DROP AS
WITH taken AS (
    DELETE FROM candleflow.rollup_dirty
    WHERE timeframe = %(tf)s AND ts + %(step)s <= %(now)s
      AND (%(ids)s::int[] IS NULL OR instrument_id = ANY(%(ids)s::int[]))
    RETURNING instrument_id, ts
)
SELECT d.instrument_id, d.ts,
       (array_agg(b.open ORDER BY b.ts))[1] AS open, max(b.high) AS high,
       min(b.low) AS low, (array_agg(b.close ORDER BY b.ts DESC))[1] AS close,
       sum(b.volume) AS volume
FROM taken d
JOIN candleflow.bars b ON b.instrument_id = d.instrument_id AND b.timeframe = %(parent)s
     AND b.source = 'rollup' AND NOT b.filled AND b.ts >= d.ts AND b.ts < d.ts + %(step)s
GROUP BY 1, 2;
"""

#: Upsert ``_rollup_bars`` (unchanged bars are not rewritten) and mark the next levels.
#: ``{marks}`` is a UNION ALL of the child-level bucket expressions over ``up``.
UPSERT_BARS = """
WITH up AS (
    INSERT INTO candleflow.bars AS b
        (instrument_id, timeframe, ts, source, open, high, low, close, volume, filled, run_id)
    SELECT instrument_id, %(tf)s, ts, 'rollup', open, high, low, close, volume, false,
           %(run_id)s
    FROM _rollup_bars
    ON CONFLICT (instrument_id, timeframe, source, ts) DO UPDATE
        SET open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low,
            close = EXCLUDED.close, volume = EXCLUDED.volume, filled = false,
            loaded_at = now(), run_id = EXCLUDED.run_id
        WHERE (b.open, b.high, b.low, b.close, b.volume, b.filled)
              IS DISTINCT FROM (EXCLUDED.open, EXCLUDED.high, EXCLUDED.low, EXCLUDED.close,
                                EXCLUDED.volume, false)
    RETURNING instrument_id, ts, (xmax = 0) AS inserted
), marked AS (
    INSERT INTO candleflow.rollup_dirty (instrument_id, timeframe, ts)
    SELECT DISTINCT instrument_id, timeframe, bucket FROM ({marks}) m
    ON CONFLICT (instrument_id, timeframe, ts) DO NOTHING
), changed AS (
    INSERT INTO _rollup_changed (timeframe, instrument_id, lo, hi)
    SELECT %(tf)s, instrument_id, min(ts), max(ts) FROM up GROUP BY instrument_id
)
SELECT (SELECT count(*) FROM _rollup_bars), count(*) FILTER (WHERE inserted),
       count(*) FILTER (WHERE NOT inserted)
FROM up;
"""

#: Child marks: an intraday bucket, and a session day (bars outside the session mark none).
MARK_INTRADAY = (
    "SELECT instrument_id, %s::text AS timeframe,"
    f" date_bin(%s::interval, ts, {EPOCH}) AS bucket FROM up"
)
CHANGED_TABLE = """
CREATE TEMP TABLE _rollup_changed (
    timeframe text NOT NULL, instrument_id integer NOT NULL,
    lo timestamptz NOT NULL, hi timestamptz NOT NULL
) ON COMMIT DROP
"""

ADVANCE_WATERMARK = """
INSERT INTO candleflow.rollup_state AS s (instrument_id, rolled_until, last_run_id)
SELECT instrument_id, max(end_ts), %(run_id)s FROM _rollup_ranges GROUP BY instrument_id
ON CONFLICT (instrument_id) DO UPDATE
    SET rolled_until = greatest(s.rolled_until, EXCLUDED.rolled_until),
        last_run_id = EXCLUDED.last_run_id, updated_at = now()
"""

#: Re-mark a window of stored ticks (``candleflow rollup --start/--end``: a forced rebuild).
MARK_WINDOW = f"""
INSERT INTO candleflow.rollup_dirty AS d (instrument_id, timeframe, ts, cumulative)
SELECT instrument_id, '1m', date_bin('1 minute', ts, {EPOCH}),
       bool_or(size IS NULL AND day_volume IS NOT NULL)
FROM candleflow.ticks
WHERE instrument_id = ANY(%(ids)s::int[]) AND ts >= %(start)s AND ts < %(end)s
  AND price IS NOT NULL
GROUP BY 1, 2, 3
ON CONFLICT (instrument_id, timeframe, ts) DO UPDATE
    SET cumulative = d.cumulative OR EXCLUDED.cumulative
"""
