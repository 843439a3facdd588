"""The statements of the bar writer (``candleflow.db.bars``), kept apart so it reads as logic.

Values are always parameters; the only composed parts are identifiers and the fixed list of
compared columns, built with ``psycopg2.sql``.
"""

from __future__ import annotations

from psycopg2 import sql

VALUES = ("open", "high", "low", "close", "volume", "filled")

SERIES_OVERLAPS = """
SELECT EXISTS (SELECT FROM candleflow.bars WHERE instrument_id = %(instrument_id)s
               AND timeframe = %(timeframe)s AND source = %(source)s
               AND ts BETWEEN %(lo)s AND %(hi)s)
"""

#: Why the bars a merge replaces were replaced (``bar_revisions.reason``; '' is the default).
REVISION_REASON = "SELECT set_config('candleflow.revision_reason', %(reason)s, true)"


def _row(alias: str) -> sql.Composable:
    """``alias.open, ..., alias.filled``: the compared values of a bar."""
    return sql.SQL(", ").join(sql.Identifier(alias, c) for c in VALUES)


def merge_frame(stage: sql.Identifier) -> sql.Composed:
    """Merge a staged frame into one series; returns (inserted, updated).

    Inserted or updated: a written bar that the statement's snapshot (taken before the
    INSERT: a WITH's writes are invisible to the rest of its statement) already held was
    updated. ``RETURNING (xmax = 0)`` would say the same, but PostgreSQL refuses system
    columns in RETURNING of a partitioned table (migration 0022); the caller's
    ``lock_series`` keeps another writer from adding the bar between snapshot and write.

    The anti-join drops rows already stored with equal values before ON CONFLICT sees them:
    ON CONFLICT DO UPDATE locks every conflicting row (a WAL record each) even when its
    WHERE then skips the update, so a re-load of an unchanged window would write one lock
    per bar. The ON CONFLICT stays as the arbiter for rows that changed or appeared meanwhile.
    """
    return sql.SQL(
        """
        WITH written AS (
            INSERT INTO candleflow.bars AS b
                (instrument_id, timeframe, source, ts, {columns}, run_id)
            SELECT %(instrument_id)s, %(timeframe)s, %(source)s, s.ts, {staged}, %(run_id)s
            FROM {stage} AS s
            WHERE NOT EXISTS (
                SELECT FROM candleflow.bars AS c
                WHERE c.instrument_id = %(instrument_id)s AND c.timeframe = %(timeframe)s
                  AND c.source = %(source)s AND c.ts BETWEEN %(lo)s AND %(hi)s
                  AND c.ts = s.ts AND ({stored}) IS NOT DISTINCT FROM ({staged})
            )
            ON CONFLICT (instrument_id, timeframe, source, ts) DO UPDATE
            SET ({columns}, run_id, loaded_at) = ({excluded}, excluded.run_id, now())
            WHERE ({current}) IS DISTINCT FROM ({excluded})
            RETURNING b.ts
        )
        SELECT count(*) FILTER (WHERE NOT stored), count(*) FILTER (WHERE stored)
        FROM (SELECT EXISTS (
                  SELECT FROM candleflow.bars AS c
                  WHERE c.instrument_id = %(instrument_id)s AND c.timeframe = %(timeframe)s
                    AND c.source = %(source)s AND c.ts = w.ts) AS stored
              FROM written AS w) AS f
        """
    ).format(
        columns=sql.SQL(", ").join(map(sql.Identifier, VALUES)),
        stage=stage,
        staged=_row("s"),
        stored=_row("c"),
        excluded=_row("excluded"),
        current=_row("b"),
    )


#: ``_rollup_bars`` -> rollup bars of ``%(tf)s``; what was written goes to ``_rollup_written``
#: (marks of the next levels) and ``_rollup_changed`` (the ranges ``FILL_GAPS`` refills).
UPSERT_ROLLUP = """
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
    RETURNING instrument_id, ts, NOT EXISTS (  -- the statement's snapshot: before the write
        SELECT FROM candleflow.bars AS o
        WHERE o.instrument_id = b.instrument_id AND o.timeframe = %(tf)s
          AND o.source = 'rollup' AND o.ts = b.ts) AS inserted
), written AS (
    INSERT INTO _rollup_written (instrument_id, ts) SELECT instrument_id, ts FROM up
), changed AS (
    INSERT INTO _rollup_changed (timeframe, instrument_id, lo, hi)
    SELECT %(tf)s, instrument_id, min(ts), max(ts) FROM up GROUP BY instrument_id
)
SELECT (SELECT count(*) FROM _rollup_bars), count(*) FILTER (WHERE inserted),
       count(*) FILTER (WHERE NOT inserted)
FROM up
"""

#: Filled bars (``fill_gaps``): off by default; nothing is filled after the last real bar
#: (a quiet instrument and a stopped feed look the same until the next trade), nor outside
#: a session market's regular sessions (``_rollup_days``: those staged around the rollup).
#: A late tick in a filled interval turns it into a real bar (``filled = false``); filled bars
#: are never used to build higher timeframes, which are filled at their own level.
FILL_GAPS = """
INSERT INTO candleflow.bars AS b
    (instrument_id, timeframe, ts, source, open, high, low, close, volume, filled, run_id)
SELECT c.instrument_id, %(tf)s, g.ts, 'rollup', p.close, p.close, p.close, p.close, 0, true,
       %(run_id)s
FROM (SELECT instrument_id, min(lo) AS lo, max(hi) AS hi FROM _rollup_changed
      WHERE timeframe = %(tf)s GROUP BY instrument_id) c
CROSS JOIN LATERAL (
    SELECT COALESCE((SELECT max(r.ts) FROM candleflow.bars r
                     WHERE r.instrument_id = c.instrument_id AND r.timeframe = %(tf)s
                       AND r.source = 'rollup' AND NOT r.filled AND r.ts < c.lo), c.lo) AS lo,
           COALESCE((SELECT min(r.ts) FROM candleflow.bars r
                     WHERE r.instrument_id = c.instrument_id AND r.timeframe = %(tf)s
                       AND r.source = 'rollup' AND NOT r.filled AND r.ts > c.hi), c.hi) AS hi
) w
CROSS JOIN LATERAL generate_series(w.lo + %(step)s, w.hi - %(step)s, %(step)s) g(ts)
CROSS JOIN LATERAL (
    SELECT r.close FROM candleflow.bars r
    WHERE r.instrument_id = c.instrument_id AND r.timeframe = %(tf)s AND r.source = 'rollup'
      AND NOT r.filled AND r.ts < g.ts
    ORDER BY r.ts DESC LIMIT 1
) p
WHERE g.ts + %(step)s <= %(now)s AND NOT EXISTS (
    SELECT 1 FROM candleflow.bars x
    WHERE x.instrument_id = c.instrument_id AND x.timeframe = %(tf)s AND x.source = 'rollup'
      AND x.ts = g.ts AND NOT x.filled)
  AND (NOT EXISTS (SELECT 1 FROM _rollup_grids s WHERE s.instrument_id = c.instrument_id)
       OR EXISTS (  -- a session market: inside one of its regular sessions
           SELECT 1 FROM _rollup_grids s JOIN _rollup_days d ON d.calendar = s.calendar
           WHERE s.instrument_id = c.instrument_id AND d.open > g.ts - interval '1 day'
             AND d.open <= g.ts AND d.close > g.ts))
ON CONFLICT (instrument_id, timeframe, source, ts) DO UPDATE
    SET open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low,
        close = EXCLUDED.close, volume = 0, loaded_at = now(), run_id = EXCLUDED.run_id
    WHERE b.filled AND b.close IS DISTINCT FROM EXCLUDED.close
"""
