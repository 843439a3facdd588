-- Sessions as part of the series: an extended-hours series is an instrument row of its own.
--
-- TradingView names a series by its resolve descriptor, {"session": "extended", "symbol":
-- "NASDAQ:AAPL"} beside {"session": "regular", ...}; Candleflow does the same. An instrument
-- row is (symbol, series_session): the regular row every existing row becomes, and an
-- extended row made when a sync first asks for the extended series. Everything keyed by
-- instrument_id (bars and their primary key, sync_state, series_versions, rollup state,
-- segments, load_audit, rejected bars) then keeps both series apart with no key of its own
-- changed, and the extended row's `session` holds its own hours (0400-2000), which the
-- validation grid and the calendars follow.
--
-- Corporate actions belong to the symbol, not to a session: they are stored with the
-- regular row only, and reads of the extended series apply the regular row's actions.
--
-- The analytics views keep their meaning (the regular series, one row per symbol, timeframe
-- and ts); the extended series has a view of its own, analytics.extended_bars.

ALTER TABLE candleflow.instruments
    ADD COLUMN series_session text NOT NULL DEFAULT 'regular'
        CHECK (series_session IN ('regular', 'extended'));
ALTER TABLE candleflow.instruments DROP CONSTRAINT instruments_symbol_key;
ALTER TABLE candleflow.instruments
    ADD CONSTRAINT instruments_symbol_session_key UNIQUE (symbol, series_session);
COMMENT ON COLUMN candleflow.instruments.series_session IS
    'Which series of the symbol this row is: regular (the exchange''s regular session) or '
    'extended (pre- and post-market too, e.g. 04:00-20:00 New York). One row per both.';

CREATE OR REPLACE VIEW analytics.bars AS
SELECT i.symbol, i.exchange, b.timeframe, b.ts,
       ((b.ts + CASE WHEN b.timeframe IN ('1d', '1w', '1mo') THEN interval '12 hours'
                     ELSE interval '0' END) AT TIME ZONE i.timezone)::date AS session_date,
       b.open, b.high, b.low, b.close, b.volume, b.source
FROM candleflow.bars AS b
JOIN candleflow.instruments AS i ON i.id = b.instrument_id
WHERE i.series_session = 'regular'
  AND (b.source = 'provider'
       OR NOT EXISTS (SELECT 1 FROM candleflow.bars AS p
                      WHERE p.instrument_id = b.instrument_id AND p.timeframe = b.timeframe
                        AND p.source = 'provider' AND p.ts = b.ts));
COMMENT ON VIEW analytics.bars IS
    'Every stored OHLCV bar of the regular-session series with its symbol; one row per symbol, '
    'timeframe and ts (the provider bar when both a provider and a rollup bar exist). The '
    'extended-hours series are in analytics.extended_bars. Filter on symbol, timeframe and ts.';

CREATE VIEW analytics.extended_bars AS
SELECT i.symbol, i.exchange, b.timeframe, b.ts,
       ((b.ts + CASE WHEN b.timeframe IN ('1d', '1w', '1mo') THEN interval '12 hours'
                     ELSE interval '0' END) AT TIME ZONE i.timezone)::date AS session_date,
       b.open, b.high, b.low, b.close, b.volume, b.source
FROM candleflow.bars AS b
JOIN candleflow.instruments AS i ON i.id = b.instrument_id
WHERE i.series_session = 'extended';
COMMENT ON VIEW analytics.extended_bars IS
    'The extended-hours series (pre-market, regular session and post-market, e.g. 04:00-20:00 '
    'New York for US equities), raw, one row per symbol, timeframe and ts. Never mixed into '
    'analytics.bars. Filter on symbol, timeframe and ts.';
COMMENT ON COLUMN analytics.extended_bars.session_date IS
    'Trading date in the exchange timezone (pre- and post-market belong to that day).';

CREATE OR REPLACE VIEW analytics.daily_bars AS
WITH derived AS (  -- instruments without stored 1d bars: their finest stored intraday timeframe
    SELECT i.id, i.symbol, f.timeframe, f.minutes,
           ceil(analytics.session_minutes(i.session)::numeric / f.minutes)::int AS expected
    FROM candleflow.instruments AS i
    CROSS JOIN LATERAL (
        SELECT t.timeframe, t.minutes FROM analytics.timeframes AS t
        WHERE t.minutes < 1440
          AND EXISTS (SELECT 1 FROM candleflow.bars AS b
                      WHERE b.instrument_id = i.id AND b.timeframe = t.timeframe)
        ORDER BY t.minutes LIMIT 1) AS f
    WHERE i.series_session = 'regular'
      AND NOT EXISTS (SELECT 1 FROM candleflow.bars AS b
                      WHERE b.instrument_id = i.id AND b.timeframe = '1d')
)
SELECT symbol, exchange, session_date, ts, open, high, low, close, volume, source,
       '1d'::text AS built_from, true AS complete
FROM analytics.bars
WHERE timeframe = '1d'
UNION ALL
SELECT b.symbol, b.exchange, b.session_date, min(b.ts), (array_agg(b.open ORDER BY b.ts))[1],
       max(b.high), min(b.low), (array_agg(b.close ORDER BY b.ts DESC))[1], sum(b.volume),
       CASE WHEN bool_or(b.source = 'rollup') THEN 'rollup' ELSE 'provider' END, d.timeframe,
       count(*) >= d.expected
FROM analytics.bars AS b
JOIN derived AS d ON d.symbol = b.symbol AND d.timeframe = b.timeframe
GROUP BY b.symbol, b.exchange, b.session_date, d.timeframe, d.expected;

CREATE OR REPLACE VIEW analytics.coverage AS
SELECT b.symbol, b.exchange, b.timeframe, min(b.ts) AS first_ts, max(b.ts) AS last_ts,
       count(*) AS bar_count, count(*) FILTER (WHERE b.source = 'rollup') AS rollup_count,
       l.finished_at AS last_load_at, l.outcome AS last_load_outcome, l.run_id AS last_load_run_id,
       r.reachable_start
FROM analytics.bars AS b
LEFT JOIN LATERAL (
    SELECT a.finished_at, a.outcome, a.run_id FROM candleflow.load_audit AS a
    WHERE a.symbol = b.symbol AND a.timeframe = b.timeframe
      AND NOT EXISTS (SELECT 1 FROM candleflow.instruments AS x
                      WHERE x.id = a.instrument_id AND x.series_session <> 'regular')
    ORDER BY a.finished_at DESC, a.id DESC LIMIT 1
) AS l ON true
LEFT JOIN LATERAL (
    SELECT s.reachable_start FROM candleflow.sync_state AS s
    JOIN candleflow.instruments AS i ON i.id = s.instrument_id
    WHERE i.symbol = b.symbol AND s.timeframe = b.timeframe AND i.series_session = 'regular'
) AS r ON true
GROUP BY b.symbol, b.exchange, b.timeframe, l.finished_at, l.outcome, l.run_id,
         r.reachable_start;

-- Per-series views gain the session (a new last column), so an extended row is told apart.
CREATE OR REPLACE VIEW analytics.freshness AS
SELECT i.symbol, i.exchange, tf.timeframe, n.newest_ts, n.newest_ts + tf.length AS newest_end,
       now() - (n.newest_ts + tf.length) AS age, i.session = '24x7' AS is_24x7,
       2 * tf.length + CASE WHEN i.session = '24x7' THEN interval '10 minutes'
                            ELSE interval '4 days' END AS max_age,
       now() - (n.newest_ts + tf.length) > 2 * tf.length
           + CASE WHEN i.session = '24x7' THEN interval '10 minutes' ELSE interval '4 days' END
           AS is_stale,
       s.reachable_start, i.series_session
FROM candleflow.instruments AS i
CROSS JOIN analytics.timeframes AS tf
CROSS JOIN LATERAL (
    SELECT max(x.ts) AS newest_ts
    FROM (VALUES ('provider'), ('rollup')) AS s (source)
    CROSS JOIN LATERAL (
        SELECT b.ts FROM candleflow.bars AS b
        WHERE b.instrument_id = i.id AND b.timeframe = tf.timeframe AND b.source = s.source
        ORDER BY b.ts DESC LIMIT 1) AS x
) AS n
LEFT JOIN candleflow.sync_state AS s ON s.instrument_id = i.id AND s.timeframe = tf.timeframe
WHERE n.newest_ts IS NOT NULL AND i.active;
COMMENT ON COLUMN analytics.freshness.series_session IS
    'regular or extended: which series of the symbol the row is about.';

CREATE OR REPLACE VIEW analytics.load_history AS
SELECT a.id, a.run_id, a.symbol, i.exchange, a.timeframe, a.provider, a.window_start,
       a.window_end, a.outcome, a.error, a.rows_fetched, a.rows_valid, a.rows_rejected,
       a.rows_flagged, a.rows_inserted, a.rows_updated, a.rows_unchanged, a.duration_s,
       (a.validation ->> 'gx_success')::boolean AS validation_success, a.started_at,
       a.finished_at, a.rows_out_of_reach, coalesce(i.series_session, 'regular') AS series_session
FROM candleflow.load_audit AS a
LEFT JOIN candleflow.instruments AS i ON i.id = a.instrument_id;
COMMENT ON COLUMN analytics.load_history.series_session IS
    'regular or extended: which series of the symbol the load wrote.';

GRANT SELECT ON analytics.extended_bars TO candleflow_reader;
