-- Schema analytics: documented, read-only views for BI tools (Metabase, Superset, Tableau)
-- and the read-only role candleflow_reader, which sees these views and nothing else.
--
-- The views run with their owner's rights (security_invoker = false, the default), which is
-- how the reader reads bars through them without any privilege on schema candleflow.
-- Where a provider bar and a rollup bar share a ts, the provider bar is shown (the same rule
-- as candleflow.query.bars).
CREATE SCHEMA IF NOT EXISTS analytics;
COMMENT ON SCHEMA analytics IS
    'Candleflow views for BI tools and analysts: symbols joined in, session dates in exchange '
    'time, latest quotes, coverage, load history and freshness. Read-only role: candleflow_reader.';

CREATE VIEW analytics.timeframes (timeframe, minutes, length) AS
VALUES ('1m', 1, interval '1 minute'), ('3m', 3, interval '3 minutes'),
       ('5m', 5, interval '5 minutes'), ('15m', 15, interval '15 minutes'),
       ('30m', 30, interval '30 minutes'), ('45m', 45, interval '45 minutes'),
       ('1h', 60, interval '1 hour'), ('2h', 120, interval '2 hours'),
       ('3h', 180, interval '3 hours'), ('4h', 240, interval '4 hours'),
       ('1d', 1440, interval '1 day'), ('1w', 10080, interval '7 days'),
       ('1mo', 43200, interval '1 month');
COMMENT ON VIEW analytics.timeframes IS
    'The timeframe notation (1m is a minute, 1mo a month) with each bar''s length.';
COMMENT ON COLUMN analytics.timeframes.minutes IS 'Length in minutes (1mo counted as 30 days, for ordering).';
COMMENT ON COLUMN analytics.timeframes.length IS 'Length as an interval: a bar covers [ts, ts + length).';

CREATE VIEW analytics.bars AS
SELECT i.symbol, i.exchange, b.timeframe, b.ts,
       -- bars of a day or longer: the date of ts + 12h, right for both UTC-midnight and
       -- session-open stamps
       ((b.ts + CASE WHEN b.timeframe IN ('1d', '1w', '1mo') THEN interval '12 hours'
                     ELSE interval '0' END) AT TIME ZONE i.timezone)::date AS session_date,
       b.open, b.high, b.low, b.close, b.volume, b.source
FROM candleflow.bars AS b
JOIN candleflow.instruments AS i ON i.id = b.instrument_id
WHERE b.source = 'provider'
   OR NOT EXISTS (SELECT 1 FROM candleflow.bars AS p
                  WHERE p.instrument_id = b.instrument_id AND p.timeframe = b.timeframe
                    AND p.source = 'provider' AND p.ts = b.ts);
COMMENT ON VIEW analytics.bars IS
    'Every stored OHLCV bar with its symbol; one row per symbol, timeframe and ts (the provider '
    'bar when both a provider and a rollup bar exist). Filter on symbol, timeframe and ts.';
COMMENT ON COLUMN analytics.bars.symbol IS 'EXCHANGE:TICKER, e.g. NASDAQ:AAPL.';
COMMENT ON COLUMN analytics.bars.timeframe IS 'Bar length: 1m 3m 5m 15m 30m 45m 1h 2h 3h 4h 1d 1w 1mo.';
COMMENT ON COLUMN analytics.bars.ts IS 'Bar start, UTC; the bar covers [ts, ts + timeframe).';
COMMENT ON COLUMN analytics.bars.session_date IS
    'Trading date in the exchange timezone (instruments.timezone).';
COMMENT ON COLUMN analytics.bars.volume IS 'Traded volume; NULL when the instrument has none (indices).';
COMMENT ON COLUMN analytics.bars.source IS
    'provider (fetched) or rollup (built from ticks by the BarManager).';

CREATE VIEW analytics.daily_bars AS
WITH derived AS (  -- instruments without stored 1d bars: their finest stored intraday timeframe
    SELECT i.id, i.symbol, f.timeframe
    FROM candleflow.instruments AS i
    CROSS JOIN LATERAL (
        SELECT t.timeframe FROM analytics.timeframes AS t
        WHERE t.minutes < 1440
          AND EXISTS (SELECT 1 FROM candleflow.bars AS b
                      WHERE b.instrument_id = i.id AND b.timeframe = t.timeframe)
        ORDER BY t.minutes LIMIT 1) AS f
    WHERE NOT EXISTS (SELECT 1 FROM candleflow.bars AS b
                      WHERE b.instrument_id = i.id AND b.timeframe = '1d')
)
SELECT symbol, exchange, session_date, ts, open, high, low, close, volume, source,
       '1d'::text AS built_from
FROM analytics.bars
WHERE timeframe = '1d'
UNION ALL
SELECT b.symbol, b.exchange, b.session_date, min(b.ts), (array_agg(b.open ORDER BY b.ts))[1],
       max(b.high), min(b.low), (array_agg(b.close ORDER BY b.ts DESC))[1], sum(b.volume),
       CASE WHEN bool_or(b.source = 'rollup') THEN 'rollup' ELSE 'provider' END, d.timeframe
FROM analytics.bars AS b
JOIN derived AS d ON d.symbol = b.symbol AND d.timeframe = b.timeframe
GROUP BY b.symbol, b.exchange, b.session_date, d.timeframe;
COMMENT ON VIEW analytics.daily_bars IS
    'One bar per symbol and session date: the stored 1d bars, or for symbols without any, '
    'bars aggregated from their finest stored intraday timeframe (first open, max high, '
    'min low, last close, summed volume).';
COMMENT ON COLUMN analytics.daily_bars.ts IS
    'The stored 1d bar''s ts, or the first intraday bar''s ts of the session (UTC).';
COMMENT ON COLUMN analytics.daily_bars.built_from IS '1d when stored, else the intraday timeframe aggregated.';

CREATE VIEW analytics.latest_quotes AS
SELECT i.symbol, i.exchange, coalesce(t.ts, lb.bar_end) AS ts, coalesce(t.price, lb.close) AS price,
       t.bid, t.ask, t.day_volume,
       CASE WHEN t.ts IS NOT NULL THEN 'tick' ELSE 'bar' END AS origin,
       lb.timeframe
FROM candleflow.instruments AS i
LEFT JOIN LATERAL (
    SELECT k.ts, k.price, k.bid, k.ask, k.day_volume FROM candleflow.ticks AS k
    WHERE k.instrument_id = i.id ORDER BY k.ts DESC, k.seq DESC LIMIT 1
) AS t ON true
LEFT JOIN LATERAL (
    SELECT tf.timeframe, x.ts + tf.length AS bar_end, x.close
    FROM analytics.timeframes AS tf
    CROSS JOIN (VALUES ('provider'), ('rollup')) AS s (source)
    CROSS JOIN LATERAL (
        SELECT b.ts, b.close FROM candleflow.bars AS b
        WHERE b.instrument_id = i.id AND b.timeframe = tf.timeframe AND b.source = s.source
        ORDER BY b.ts DESC LIMIT 1) AS x
    ORDER BY x.ts + tf.length DESC, tf.minutes, s.source = 'provider' DESC
    LIMIT 1
) AS lb ON t.ts IS NULL
WHERE t.ts IS NOT NULL OR lb.bar_end IS NOT NULL;
COMMENT ON VIEW analytics.latest_quotes IS
    'The latest quote per symbol: its latest tick, or without ticks the close of the bar that '
    'ended last (any timeframe; the finer one on a tie).';
COMMENT ON COLUMN analytics.latest_quotes.ts IS
    'The tick time, or for origin = bar the end of that bar (when its close was the price), UTC.';
COMMENT ON COLUMN analytics.latest_quotes.price IS 'Last trade price (tick) or bar close.';
COMMENT ON COLUMN analytics.latest_quotes.day_volume IS
    'The provider''s cumulative session volume at the tick; NULL for bars.';
COMMENT ON COLUMN analytics.latest_quotes.origin IS 'tick or bar: where the quote came from.';
COMMENT ON COLUMN analytics.latest_quotes.timeframe IS 'For origin = bar: the bar''s timeframe.';

CREATE VIEW analytics.load_history AS
SELECT a.id, a.run_id, a.symbol, i.exchange, a.timeframe, a.provider, a.window_start,
       a.window_end, a.outcome, a.error, a.rows_fetched, a.rows_valid, a.rows_rejected,
       a.rows_flagged, a.rows_inserted, a.rows_updated, a.rows_unchanged, a.duration_s,
       (a.validation ->> 'gx_success')::boolean AS validation_success, a.started_at,
       a.finished_at
FROM candleflow.load_audit AS a
LEFT JOIN candleflow.instruments AS i ON i.id = a.instrument_id;
COMMENT ON VIEW analytics.load_history IS
    'One row per load of one symbol x timeframe x window (candleflow.load_audit) with its counts.';
COMMENT ON COLUMN analytics.load_history.outcome IS 'success, failed or rejected (too many invalid rows).';
COMMENT ON COLUMN analytics.load_history.validation_success IS
    'Whether Great Expectations passed; the full result: candleflow.query.validation_result(run_id).';
COMMENT ON COLUMN analytics.load_history.rows_unchanged IS 'Rows already stored with equal values (not rewritten).';

CREATE VIEW analytics.coverage AS
SELECT b.symbol, b.exchange, b.timeframe, min(b.ts) AS first_ts, max(b.ts) AS last_ts,
       count(*) AS bar_count, count(*) FILTER (WHERE b.source = 'rollup') AS rollup_count,
       l.finished_at AS last_load_at, l.outcome AS last_load_outcome, l.run_id AS last_load_run_id
FROM analytics.bars AS b
LEFT JOIN LATERAL (
    SELECT a.finished_at, a.outcome, a.run_id FROM candleflow.load_audit AS a
    WHERE a.symbol = b.symbol AND a.timeframe = b.timeframe
    ORDER BY a.finished_at DESC, a.id DESC LIMIT 1
) AS l ON true
GROUP BY b.symbol, b.exchange, b.timeframe, l.finished_at, l.outcome, l.run_id;
COMMENT ON VIEW analytics.coverage IS
    'Per symbol x timeframe: first and last bar, bar count and the last load. Gaps against the '
    'exchange calendar: candleflow.query.coverage().';
COMMENT ON COLUMN analytics.coverage.rollup_count IS 'Bars that came from the tick rollup (no provider bar).';
COMMENT ON COLUMN analytics.coverage.last_load_at IS 'When the last load of this series finished.';

CREATE VIEW analytics.freshness AS
SELECT i.symbol, i.exchange, tf.timeframe, n.newest_ts, n.newest_ts + tf.length AS newest_end,
       now() - (n.newest_ts + tf.length) AS age, i.session = '24x7' AS is_24x7,
       2 * tf.length + CASE WHEN i.session = '24x7' THEN interval '10 minutes'
                            ELSE interval '4 days' END AS max_age,
       now() - (n.newest_ts + tf.length) > 2 * tf.length
           + CASE WHEN i.session = '24x7' THEN interval '10 minutes' ELSE interval '4 days' END
           AS is_stale
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
WHERE n.newest_ts IS NOT NULL AND i.active;
COMMENT ON VIEW analytics.freshness IS
    'Per active symbol x stored timeframe: the newest bar and whether it is stale. Rule: stale when '
    'the newest bar ended more than two bar lengths ago plus a grace of 10 minutes (24x7 '
    'markets) or 4 days (session markets: nights, weekends and a holiday).';
COMMENT ON COLUMN analytics.freshness.newest_end IS 'End of the newest bar (ts + timeframe), UTC.';
COMMENT ON COLUMN analytics.freshness.age IS 'now() - newest_end.';
COMMENT ON COLUMN analytics.freshness.is_24x7 IS 'instruments.session = ''24x7''.';
COMMENT ON COLUMN analytics.freshness.max_age IS 'The age above which the series counts as stale.';
COMMENT ON COLUMN analytics.freshness.is_stale IS 'age > max_age.';

-- The read-only role. Roles are cluster-wide: create it once (two databases migrating at
-- the same time may race, hence the duplicate_object handler); grants are per database.
-- Its password is set outside SQL: candleflow.db.roles.set_reader_password.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'candleflow_reader') THEN
        CREATE ROLE candleflow_reader LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- created by a concurrent migration of another database
END
$$;

DO $$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO candleflow_reader', current_database());
    -- PostgreSQL < 15 lets PUBLIC create in schema public; 15+ already does not
    IF current_setting('server_version_num')::int < 150000 THEN
        REVOKE CREATE ON SCHEMA public FROM PUBLIC;
    END IF;
END
$$;
REVOKE ALL ON SCHEMA candleflow FROM candleflow_reader;
REVOKE ALL ON ALL TABLES IN SCHEMA candleflow FROM candleflow_reader;
REVOKE CREATE ON SCHEMA public FROM candleflow_reader;
GRANT USAGE ON SCHEMA analytics TO candleflow_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA analytics TO candleflow_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA analytics GRANT SELECT ON TABLES TO candleflow_reader;
