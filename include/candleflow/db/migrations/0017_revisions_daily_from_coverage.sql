-- Corrections keep history, and daily bars come from what covers each day.
--
-- 1. candleflow.bar_revisions: every version of a bar that a write replaced, with when, by
--    which run and why. Kept by a statement trigger on bars (every writer: the loader's merge,
--    the rollup, its filled bars), and only for rows whose values changed: the writers' upserts
--    already skip equal rows, and the trigger compares old and new again. The reason is the
--    setting candleflow.revision_reason when a writer sets it (the loader, for a re-adjusting
--    re-sync), else 'provider correction' for provider bars and 'rollup rebuild' for rollups.
CREATE TABLE candleflow.bar_revisions (
    instrument_id integer NOT NULL,
    timeframe     text NOT NULL,
    source        text NOT NULL,
    ts            timestamptz NOT NULL,
    replaced_at   timestamptz NOT NULL,
    loaded_at     timestamptz NOT NULL,
    open          double precision NOT NULL,
    high          double precision NOT NULL,
    low           double precision NOT NULL,
    close         double precision NOT NULL,
    volume        double precision,
    filled        boolean NOT NULL,
    old_run_id    text,
    run_id        text,
    reason        text NOT NULL
        CHECK (reason IN ('provider correction', 're-adjustment', 'rollup rebuild')),
    PRIMARY KEY (instrument_id, timeframe, source, ts, replaced_at)
);
COMMENT ON TABLE candleflow.bar_revisions IS
    'Replaced versions of bars: the values a bar had until replaced_at (point-in-time reads).';
COMMENT ON COLUMN candleflow.bar_revisions.replaced_at IS
    'When the write that replaced these values ran (its transaction start, = the new loaded_at).';
COMMENT ON COLUMN candleflow.bar_revisions.loaded_at IS 'When these (old) values were written.';
COMMENT ON COLUMN candleflow.bar_revisions.old_run_id IS 'The run that wrote these values.';
COMMENT ON COLUMN candleflow.bar_revisions.run_id IS 'The run that replaced them.';
COMMENT ON COLUMN candleflow.bar_revisions.reason IS
    'provider correction, re-adjustment or rollup rebuild.';

CREATE FUNCTION candleflow.keep_bar_revisions() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- the first version of a transaction wins: what was known before it
    INSERT INTO candleflow.bar_revisions
        (instrument_id, timeframe, source, ts, replaced_at, loaded_at, open, high, low, close,
         volume, filled, old_run_id, run_id, reason)
    SELECT o.instrument_id, o.timeframe, o.source, o.ts, now(), o.loaded_at, o.open, o.high,
           o.low, o.close, o.volume, o.filled, o.run_id, n.run_id,
           coalesce(nullif(current_setting('candleflow.revision_reason', true), ''),
                    CASE o.source WHEN 'rollup' THEN 'rollup rebuild'
                                  ELSE 'provider correction' END)
    FROM old_rows AS o
    JOIN new_rows AS n USING (instrument_id, timeframe, source, ts)
    WHERE (o.open, o.high, o.low, o.close, o.volume, o.filled)
          IS DISTINCT FROM (n.open, n.high, n.low, n.close, n.volume, n.filled)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER bars_keep_revisions AFTER UPDATE ON candleflow.bars
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION candleflow.keep_bar_revisions();

-- 2. One series as it was known at p_as_of: a bar unchanged since (loaded_at <= p_as_of), or
--    the version a later write replaced (the first revision after p_as_of) when it had been
--    written by then. A bar first loaded after p_as_of is not returned.
CREATE FUNCTION candleflow.bars_as_of(
    p_instrument integer, p_timeframe text, p_source text,
    p_start timestamptz, p_end timestamptz, p_as_of timestamptz)
RETURNS TABLE (ts timestamptz, open double precision, high double precision,
               low double precision, close double precision, volume double precision,
               loaded_at timestamptz, run_id text)
LANGUAGE sql STABLE AS $$
    SELECT b.ts, b.open, b.high, b.low, b.close, b.volume, b.loaded_at, b.run_id
    FROM candleflow.bars AS b
    WHERE b.instrument_id = p_instrument AND b.timeframe = p_timeframe AND b.source = p_source
      AND b.ts >= p_start AND b.ts < p_end AND b.loaded_at <= p_as_of
    UNION ALL
    SELECT r.ts, r.open, r.high, r.low, r.close, r.volume, r.loaded_at, r.old_run_id
    FROM candleflow.bars AS b
    CROSS JOIN LATERAL (
        SELECT * FROM candleflow.bar_revisions AS v
        WHERE v.instrument_id = b.instrument_id AND v.timeframe = b.timeframe
          AND v.source = b.source AND v.ts = b.ts AND v.replaced_at > p_as_of
        ORDER BY v.replaced_at LIMIT 1) AS r
    WHERE b.instrument_id = p_instrument AND b.timeframe = p_timeframe AND b.source = p_source
      AND b.ts >= p_start AND b.ts < p_end AND b.loaded_at > p_as_of
      AND r.loaded_at <= p_as_of
$$;
COMMENT ON FUNCTION candleflow.bars_as_of(integer, text, text, timestamptz, timestamptz,
                                          timestamptz) IS
    'One series in [p_start, p_end) as it was known at p_as_of (bars plus bar_revisions).';

CREATE VIEW analytics.bar_revisions AS
SELECT i.symbol, i.exchange, r.timeframe, r.source, r.ts, r.open, r.high, r.low, r.close,
       r.volume, r.loaded_at, r.replaced_at, r.reason
FROM candleflow.bar_revisions AS r
JOIN candleflow.instruments AS i ON i.id = r.instrument_id;
COMMENT ON VIEW analytics.bar_revisions IS
    'Values bars had before a later load replaced them: valid from loaded_at to replaced_at.';
COMMENT ON COLUMN analytics.bar_revisions.symbol IS 'EXCHANGE:TICKER.';
COMMENT ON COLUMN analytics.bar_revisions.loaded_at IS 'When these values were written.';
COMMENT ON COLUMN analytics.bar_revisions.replaced_at IS 'When a load replaced them.';
COMMENT ON COLUMN analytics.bar_revisions.reason IS
    'provider correction, re-adjustment or rollup rebuild.';
GRANT SELECT ON analytics.bar_revisions TO candleflow_reader;

-- 3. analytics.daily_bars per session date: the stored 1d bar where there is one, else the
--    finest intraday timeframe that has every bar of the session (instruments.session), else
--    the finest that has any (complete false). Before, an instrument with any 1d bar showed
--    only those, and one without took its finest intraday timeframe whatever it covered (a
--    day of 1m hid five months of 1h).
CREATE OR REPLACE VIEW analytics.daily_bars AS
WITH intraday AS (
    SELECT b.symbol, b.exchange, b.session_date, b.timeframe, t.minutes, min(b.ts) AS ts,
           (array_agg(b.open ORDER BY b.ts))[1] AS open, max(b.high) AS high,
           min(b.low) AS low, (array_agg(b.close ORDER BY b.ts DESC))[1] AS close,
           sum(b.volume) AS volume,
           CASE WHEN bool_or(b.source = 'rollup') THEN 'rollup' ELSE 'provider' END AS source,
           count(*) >= ceil(analytics.session_minutes(i.session)::numeric / t.minutes)
               AS complete
    FROM analytics.bars AS b
    JOIN analytics.timeframes AS t ON t.timeframe = b.timeframe AND t.minutes < 1440
    JOIN candleflow.instruments AS i
        ON i.symbol = b.symbol AND i.series_session = 'regular'  -- analytics.bars' series
    GROUP BY b.symbol, b.exchange, b.session_date, b.timeframe, t.minutes, i.session
), choices AS (
    SELECT symbol, exchange, session_date, ts, open, high, low, close, volume, source,
           '1d'::text AS built_from, true AS complete, 0 AS rank
    FROM analytics.bars
    WHERE timeframe = '1d'
    UNION ALL
    SELECT symbol, exchange, session_date, ts, open, high, low, close, volume, source,
           timeframe, complete, minutes + CASE WHEN complete THEN 0 ELSE 100000 END
    FROM intraday
)
SELECT DISTINCT ON (symbol, session_date)
       symbol, exchange, session_date, ts, open, high, low, close, volume, source, built_from,
       complete
FROM choices
ORDER BY symbol, session_date, rank;
COMMENT ON COLUMN analytics.daily_bars.built_from IS
    '1d when stored for that session, else the intraday timeframe aggregated (the finest '
    'that has the whole session, else the finest that has part of it).';
