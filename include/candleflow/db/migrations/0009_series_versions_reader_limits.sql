-- 1. Series versions: a counter per (instrument, timeframe, source) that every write to
--    candleflow.bars bumps, whoever writes (the loader, the BarManager's rollup, a fill,
--    a manual UPDATE or DELETE, a TRUNCATE). The HTTP API keys its cache of encoded pages
--    on them: a page is reused only while the versions of its instrument are unchanged, so
--    no stale page is ever served. Why a trigger and not the writers: no write path can
--    forget it, including SQL typed by hand.
--
--    Statement-level triggers with transition tables: one small upsert per statement, not
--    per row (a million-row load bumps each of its series once). A statement that changes
--    nothing (an upsert of unchanged bars) bumps nothing. Only this series' row is locked,
--    until the writer commits: writers of one series are serialised by their advisory lock
--    anyway, and two timeframes of one instrument never wait for each other.
--
--    Readers compare sum(version) over the instrument's rows: every bump adds one and rows
--    are never deleted, so the sum changes with each committed write and never returns to
--    an earlier value.
CREATE TABLE candleflow.series_versions (
    instrument_id bigint NOT NULL,
    timeframe     text NOT NULL,
    source        text NOT NULL,
    version       bigint NOT NULL DEFAULT 1,
    changed_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (instrument_id, timeframe, source)
);
COMMENT ON TABLE candleflow.series_versions IS
    'Per series: a counter bumped by every statement that changes its bars (trigger on bars).';

INSERT INTO candleflow.series_versions (instrument_id, timeframe, source)
SELECT DISTINCT instrument_id, timeframe, source FROM candleflow.bars;

CREATE FUNCTION candleflow.bump_series_versions() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        UPDATE candleflow.series_versions SET version = version + 1, changed_at = now();
    ELSIF TG_OP = 'UPDATE' THEN  -- the old key too: an UPDATE may move a bar to another series
        INSERT INTO candleflow.series_versions AS v (instrument_id, timeframe, source)
        SELECT instrument_id, timeframe, source FROM new_rows
        UNION SELECT instrument_id, timeframe, source FROM old_rows
        ORDER BY 1, 2, 3  -- one lock order for every writer: no deadlock between two
        ON CONFLICT (instrument_id, timeframe, source)
        DO UPDATE SET version = v.version + 1, changed_at = now();
    ELSIF TG_OP = 'INSERT' THEN
        INSERT INTO candleflow.series_versions AS v (instrument_id, timeframe, source)
        SELECT DISTINCT instrument_id, timeframe, source FROM new_rows ORDER BY 1, 2, 3
        ON CONFLICT (instrument_id, timeframe, source)
        DO UPDATE SET version = v.version + 1, changed_at = now();
    ELSE
        INSERT INTO candleflow.series_versions AS v (instrument_id, timeframe, source)
        SELECT DISTINCT instrument_id, timeframe, source FROM old_rows ORDER BY 1, 2, 3
        ON CONFLICT (instrument_id, timeframe, source)
        DO UPDATE SET version = v.version + 1, changed_at = now();
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER bars_version_insert AFTER INSERT ON candleflow.bars
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION candleflow.bump_series_versions();
CREATE TRIGGER bars_version_update AFTER UPDATE ON candleflow.bars
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION candleflow.bump_series_versions();
CREATE TRIGGER bars_version_delete AFTER DELETE ON candleflow.bars
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION candleflow.bump_series_versions();
CREATE TRIGGER bars_version_truncate AFTER TRUNCATE ON candleflow.bars
    FOR EACH STATEMENT EXECUTE FUNCTION candleflow.bump_series_versions();

-- 2. The BI role's limits (README: "no CREATE anywhere"). statement_timeout 60 s in this
--    database and 20 connections are defaults: candleflow db migrate applies
--    CANDLEFLOW_READER_STATEMENT_TIMEOUT / CANDLEFLOW_READER_CONNECTION_LIMIT over them.
--    TEMP is granted to PUBLIC by default and privileges only add up, so it is revoked from
--    PUBLIC and granted back to the role that migrates (the loader's staging tables are
--    TEMP tables); the database owner and superusers keep it anyway. Another role that
--    loads bars needs GRANT TEMPORARY ON DATABASE <warehouse> TO <role>.
DO $$
BEGIN
    EXECUTE format('ALTER ROLE candleflow_reader IN DATABASE %I SET statement_timeout = %L',
                   current_database(), '60s');
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO %I', current_database(), current_user);
END
$$;
ALTER ROLE candleflow_reader CONNECTION LIMIT 20;

-- 3. complete in analytics.daily_bars: a daily bar aggregated from intraday bars is complete
--    when it has every bar of the instrument's regular session (instruments.session, e.g.
--    0930-1600 is 390 minutes: 390 1m bars, 7 1h bars). SQL has no exchange calendar: an
--    early close counts as incomplete here (candleflow.query judges against the calendar).
CREATE FUNCTION analytics.session_minutes(session text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN session IS NULL OR session IN ('', '24x7', '0000-0000', '0000-2400') THEN 1440
        ELSE (SELECT coalesce(sum(CASE WHEN e > s THEN e - s ELSE e - s + 1440 END), 1440)::int
              FROM (SELECT substr(seg, 1, 2)::int * 60 + substr(seg, 3, 2)::int AS s,
                           substr(seg, 6, 2)::int * 60 + substr(seg, 8, 2)::int AS e
                    FROM regexp_split_to_table(session, '[,|]') AS part,
                         LATERAL (SELECT split_part(part, ':', 1) AS seg) AS x
                    WHERE seg ~ '^\d{4}-\d{4}$') AS segments)
    END
$$;
COMMENT ON FUNCTION analytics.session_minutes(text) IS
    'Minutes in a TradingView session string (0930-1600 -> 390, 24x7 -> 1440).';

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
    WHERE NOT EXISTS (SELECT 1 FROM candleflow.bars AS b
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
COMMENT ON COLUMN analytics.daily_bars.complete IS
    'false when a bar aggregated from intraday bars misses some of its regular session '
    '(the session of instruments.session; early closes count as incomplete). Stored 1d: true.';
GRANT SELECT ON analytics.daily_bars TO candleflow_reader;
