-- Rolled-up bars of session markets follow their session; old rejected bars get their key.
--
-- 1. Session markets. The rollup used to build every instrument's intraday bars on the UTC
--    grid from every tick: an XNYS stock got 1h bars at 14:00, 15:00 ... beside its
--    provider's 14:30, 15:30 ..., and bars for its pre- and post-market trades. It now
--    builds them on the session grid (anchored at the regular session open) and only inside
--    the exchange calendar's regular sessions. The rolled-up bars of the instruments whose
--    exchange trades in sessions (the exchange prefixes of candleflow.calendars.EXCHANGES
--    when this migration was written) are deleted, their pending marks of the old grid
--    dropped, and every minute of their ticks marked dirty: the next rollup (the bars_rollup
--    DAG, or `candleflow rollup`) rebuilds them from the ticks, which are all kept.
-- 2. Rejected bars recorded by the sync before it wrote the whole key of migration 0007
--    (provider '' and no window) get the provider and window of the one load of their run
--    that rejected bars of their series, where there is exactly one; a row that would then
--    duplicate a row recorded later with the whole key is dropped (the later row holds it).

CREATE TEMP TABLE session_markets ON COMMIT DROP AS
SELECT id FROM candleflow.instruments
WHERE upper(COALESCE(NULLIF(exchange, ''), split_part(symbol, ':', 1))) IN (
    'NYSE', 'NASDAQ', 'AMEX', 'ARCA', 'NYSEARCA', 'BATS', 'SP', 'TVC', 'LSE', 'XETR', 'TSX');

DELETE FROM candleflow.bars b USING session_markets s
WHERE b.instrument_id = s.id AND b.source = 'rollup';

DELETE FROM candleflow.rollup_dirty d USING session_markets s
WHERE d.instrument_id = s.id AND d.timeframe <> '1m';

INSERT INTO candleflow.rollup_dirty AS d (instrument_id, timeframe, ts, cumulative)
SELECT t.instrument_id, '1m', date_bin('1 minute', t.ts, timestamptz '1970-01-01 00:00+00'),
       bool_or(t.size IS NULL AND t.day_volume IS NOT NULL)
FROM candleflow.ticks t JOIN session_markets s ON s.id = t.instrument_id
WHERE t.price IS NOT NULL
GROUP BY 1, 2, 3
ON CONFLICT (instrument_id, timeframe, ts) DO UPDATE
    SET cumulative = d.cumulative OR EXCLUDED.cumulative;

CREATE TEMP TABLE reject_loads ON COMMIT DROP AS
SELECT run_id, symbol, timeframe, min(provider) AS provider,
       min(window_start) AS window_start, min(window_end) AS window_end
FROM candleflow.load_audit
WHERE rows_rejected > 0
GROUP BY run_id, symbol, timeframe
HAVING count(*) = 1;

DELETE FROM candleflow.rejected_bars r USING reject_loads a
WHERE r.provider = '' AND r.window_start IS NULL AND r.window_end IS NULL
  AND a.run_id = r.run_id AND a.symbol = r.symbol AND a.timeframe = r.timeframe
  AND EXISTS (
      SELECT 1 FROM candleflow.rejected_bars o
      WHERE o.symbol = r.symbol AND o.timeframe = r.timeframe AND o.ts_key = r.ts_key
        AND o.raw_hash = r.raw_hash AND o.provider = a.provider
        AND o.window_key = tstzrange(a.window_start, a.window_end, '[)'));

UPDATE candleflow.rejected_bars r
SET provider = a.provider, window_start = a.window_start, window_end = a.window_end
FROM reject_loads a
WHERE r.provider = '' AND r.window_start IS NULL AND r.window_end IS NULL
  AND a.run_id = r.run_id AND a.symbol = r.symbol AND a.timeframe = r.timeframe;

COMMENT ON COLUMN candleflow.rejected_bars.provider IS
    'The provider the bar came from ('''' for a row whose load could not be told).';
COMMENT ON COLUMN candleflow.rejected_bars.window_end IS 'End of the load window that saw the bar.';

DROP TABLE session_markets, reject_loads;
