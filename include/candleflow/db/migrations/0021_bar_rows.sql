-- Compressed closed months, read like plain rows: the view candleflow.bar_rows holds every
-- bar, the plain rows of candleflow.bars (open months) and the decoded segments of
-- candleflow.bar_segments (closed months, migration 0020), with the columns of
-- candleflow.bars. A month lives in one of the two, never both: `candleflow db compress`
-- and the maintenance DAG move a closed month's rows into its segment in one transaction,
-- and the bar writer merges a late bar of a compressed month into its segment
-- (candleflow.db.compaction).
--
-- The analytics views that read candleflow.bars read bar_rows instead (analytics.bars and
-- extended_bars its two parts, see below): each is restated exactly as it stands (0003,
-- 0006, 0015), only the FROM changed, so their columns, comments and grants stay; daily_bars
-- and coverage read analytics.bars and follow. A filter on
-- symbol reaches the segments' primary key. A filter on ts cannot prune segments here
-- (PostgreSQL cannot infer a segment's bounds from a bound on its decoded rows); the query
-- module (candleflow.query.bars) does, and decodes them in numpy.
CREATE VIEW candleflow.bar_rows AS
SELECT b.instrument_id, b.timeframe, b.ts, b.source, b.open, b.high, b.low, b.close, b.volume,
       b.filled, b.loaded_at, b.run_id
FROM candleflow.bars AS b
UNION ALL
SELECT c.instrument_id, c.timeframe, c.ts, c.source, c.open, c.high, c.low, c.close, c.volume,
       c.filled, c.loaded_at, c.run_id
FROM candleflow.compressed_bars AS c;
COMMENT ON VIEW candleflow.bar_rows IS
    'Every bar: the plain rows of candleflow.bars (open months) and the decoded segments of '
    'candleflow.bar_segments (compressed closed months), with the columns of candleflow.bars.';

-- analytics.bars joins instruments to bar_rows. A join condition on bar_rows would stay
-- outside its compressed branch (a segment joined to its decoded rows, which PostgreSQL plans
-- as a subquery of its own), so every segment of the timeframe would be decoded; it reads
-- bar_rows' two branches in a LATERAL subquery with the instrument inside each branch
-- instead, where it becomes an index condition on bar_segments' key.
CREATE OR REPLACE VIEW analytics.bars AS
SELECT i.symbol, i.exchange, b.timeframe, b.ts,
       ((b.ts + CASE WHEN b.timeframe IN ('1d', '1w', '1mo') THEN interval '12 hours'
                     ELSE interval '0' END) AT TIME ZONE i.timezone)::date AS session_date,
       b.open, b.high, b.low, b.close, b.volume, b.source
FROM candleflow.instruments AS i
CROSS JOIN LATERAL (
    SELECT r.instrument_id, r.timeframe, r.ts, r.source, r.open, r.high, r.low, r.close, r.volume
    FROM candleflow.bars AS r WHERE r.instrument_id = i.id
    UNION ALL
    SELECT r.instrument_id, r.timeframe, r.ts, r.source, r.open, r.high, r.low, r.close, r.volume
    FROM candleflow.compressed_bars AS r WHERE r.instrument_id = i.id
) AS b
WHERE i.series_session = 'regular'
  AND (b.source = 'provider'
       OR NOT EXISTS (SELECT 1 FROM candleflow.bar_rows AS p
                      WHERE p.instrument_id = b.instrument_id AND p.timeframe = b.timeframe
                        AND p.source = 'provider' AND p.ts = b.ts));

CREATE OR REPLACE VIEW analytics.extended_bars AS
SELECT i.symbol, i.exchange, b.timeframe, b.ts,
       ((b.ts + CASE WHEN b.timeframe IN ('1d', '1w', '1mo') THEN interval '12 hours'
                     ELSE interval '0' END) AT TIME ZONE i.timezone)::date AS session_date,
       b.open, b.high, b.low, b.close, b.volume, b.source
FROM candleflow.instruments AS i
CROSS JOIN LATERAL (
    SELECT r.instrument_id, r.timeframe, r.ts, r.source, r.open, r.high, r.low, r.close, r.volume
    FROM candleflow.bars AS r WHERE r.instrument_id = i.id
    UNION ALL
    SELECT r.instrument_id, r.timeframe, r.ts, r.source, r.open, r.high, r.low, r.close, r.volume
    FROM candleflow.compressed_bars AS r WHERE r.instrument_id = i.id
) AS b
WHERE i.series_session = 'extended';

CREATE OR REPLACE VIEW analytics.latest_quotes AS
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
        SELECT b.ts, b.close FROM candleflow.bar_rows AS b
        WHERE b.instrument_id = i.id AND b.timeframe = tf.timeframe AND b.source = s.source
        ORDER BY b.ts DESC LIMIT 1) AS x
    ORDER BY x.ts + tf.length DESC, tf.minutes, s.source = 'provider' DESC
    LIMIT 1
) AS lb ON t.ts IS NULL
WHERE t.ts IS NOT NULL OR lb.bar_end IS NOT NULL;

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
        SELECT b.ts FROM candleflow.bar_rows AS b
        WHERE b.instrument_id = i.id AND b.timeframe = tf.timeframe AND b.source = s.source
        ORDER BY b.ts DESC LIMIT 1) AS x
) AS n
LEFT JOIN candleflow.sync_state AS s ON s.instrument_id = i.id AND s.timeframe = tf.timeframe
WHERE n.newest_ts IS NOT NULL AND i.active;
