-- Idempotent rejects: a natural key for rejected_bars and rejected_ticks.
--
-- Before, neither table had one, so every retry of a load (Airflow retries, a cleared run,
-- a re-import of a tick file) appended the same rejected rows again. A rejected row is now
-- identified by what was rejected and where it was seen:
--   rejected_bars:  symbol, timeframe, ts, provider, the load window, the raw values (hash);
--   rejected_ticks: symbol, ts, the raw values (hash; a tick's raw values include its seq).
-- The rules are not part of the key: the same raw values judged again (a retry, or a run
-- with other thresholds) update the row's rules, run_id and rejected_at (the last run that
-- saw it) instead of adding a copy. The same bad bar seen by two different windows (the
-- daily run and a monthly history run) is two rows, one per window.
-- NULLs cannot be part of a plain unique key on PostgreSQL 14, so a missing ts or window is
-- keyed as -infinity/infinity through stored generated columns; provider '' is "unknown".

ALTER TABLE candleflow.rejected_bars
    ADD COLUMN provider text NOT NULL DEFAULT '',
    ADD COLUMN window_start timestamptz,
    ADD COLUMN window_end timestamptz,
    ADD COLUMN ts_key timestamptz GENERATED ALWAYS AS (COALESCE(ts, '-infinity')) STORED,
    ADD COLUMN window_key tstzrange GENERATED ALWAYS AS (
        tstzrange(COALESCE(window_start, '-infinity'), COALESCE(window_end, 'infinity'), '[)')
    ) STORED,
    ADD COLUMN raw_hash text GENERATED ALWAYS AS (md5(raw::text)) STORED;
COMMENT ON COLUMN candleflow.rejected_bars.provider IS
    'The provider the bar came from ('''' for rows recorded before migration 0007).';
COMMENT ON COLUMN candleflow.rejected_bars.window_start IS 'Start of the load window that saw the bar.';
COMMENT ON COLUMN candleflow.rejected_bars.run_id IS 'The last run that rejected these values.';

-- keep the newest copy of each rejected row recorded before this migration
DELETE FROM candleflow.rejected_bars a
USING candleflow.rejected_bars b
WHERE a.symbol = b.symbol AND a.timeframe = b.timeframe AND a.ts_key = b.ts_key
  AND a.provider = b.provider AND a.window_key = b.window_key AND a.raw_hash = b.raw_hash
  AND a.id < b.id;
ALTER TABLE candleflow.rejected_bars ADD CONSTRAINT rejected_bars_natural_key
    UNIQUE (symbol, timeframe, ts_key, provider, window_key, raw_hash);

ALTER TABLE candleflow.rejected_ticks
    ADD COLUMN ts_key timestamptz GENERATED ALWAYS AS (COALESCE(ts, '-infinity')) STORED,
    ADD COLUMN raw_hash text GENERATED ALWAYS AS (md5(raw::text)) STORED;
COMMENT ON COLUMN candleflow.rejected_ticks.run_id IS 'The last run that rejected these values.';
DELETE FROM candleflow.rejected_ticks a
USING candleflow.rejected_ticks b
WHERE a.symbol = b.symbol AND a.ts_key = b.ts_key AND a.raw_hash = b.raw_hash AND a.id < b.id;
ALTER TABLE candleflow.rejected_ticks ADD CONSTRAINT rejected_ticks_natural_key
    UNIQUE (symbol, ts_key, raw_hash);
