"""Filled bars: a flat bar for each empty intraday interval between two real bars.

Off by default (an interval without trades has no bar). With ``BarManager(fill=True)``
every empty interval between two real bars of the same instrument and timeframe gets
open = high = low = close = the previous real bar's close, volume 0 and ``filled = true``.
Only the stretch around bars this rollup changed is (re)filled, so the cost follows the
new ticks. Nothing is filled after the last real bar: whether an instrument went quiet or
the feed stopped is unknown until the next trade arrives, which then fills the gap. A
late tick in a filled interval turns it into a real bar (``filled = false``); filled bars
are never used to build higher timeframes, which are filled at their own level.
"""

from __future__ import annotations

import datetime as dt
import logging

from candleflow.domain import Timeframe

log = logging.getLogger(__name__)

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
ON CONFLICT (instrument_id, timeframe, source, ts) DO UPDATE
    SET open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low,
        close = EXCLUDED.close, volume = 0, loaded_at = now(), run_id = EXCLUDED.run_id
    WHERE b.filled AND b.close IS DISTINCT FROM EXCLUDED.close
"""


def fill_gaps(cur, tf: Timeframe, *, run_id: str, now: dt.datetime) -> int:
    """Insert or refresh the filled ``tf`` bars around this rollup's changes; returns rows."""
    if not tf.intraday:
        raise ValueError(f"filled bars are intraday only, got {tf}")
    step = dt.timedelta(minutes=tf.minutes)
    cur.execute(FILL_GAPS, {"tf": tf.name, "step": step, "run_id": run_id, "now": now})
    if cur.rowcount:
        log.info("rollup %s: %d filled %s bars written", run_id, cur.rowcount, tf)
    return cur.rowcount
