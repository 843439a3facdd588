-- Throughput (chunked loads, slices, the provider's lookback window).
--
-- load_audit:
--   * outcome 'out_of_window': the window is wholly older than the provider can serve (a
--     TradingView plan serves only the newest N bars); neither a success nor a failure.
--   * rows_out_of_reach: bars of the window that start before the provider's reachable
--     history (a window that straddles it loads the rest).
--   * clear_number: the Airflow DAG run's clear count when the load ran. A retried chunk task
--     skips the slices its run already loaded (same run_id and clear_number); clearing the
--     run (a new clear_number) redoes them all.
-- sync_state:
--   * reachable_start: the oldest bar the provider can serve for the series (NULL: no limit
--     seen). A series whose every window was out of reach has a row without a watermark,
--     hence last_bar_ts becomes nullable.
ALTER TABLE candleflow.load_audit DROP CONSTRAINT load_audit_outcome_check;
ALTER TABLE candleflow.load_audit ADD CONSTRAINT load_audit_outcome_check
    CHECK (outcome IN ('success', 'failed', 'rejected', 'out_of_window'));
ALTER TABLE candleflow.load_audit
    ADD COLUMN rows_out_of_reach integer NOT NULL DEFAULT 0 CHECK (rows_out_of_reach >= 0),
    ADD COLUMN clear_number integer;
COMMENT ON COLUMN candleflow.load_audit.rows_out_of_reach IS
    'Bars of the window older than the provider''s reachable history (not loadable).';
COMMENT ON COLUMN candleflow.load_audit.clear_number IS
    'The Airflow DAG run''s clear number at load time; NULL outside Airflow.';

ALTER TABLE candleflow.sync_state ALTER COLUMN last_bar_ts DROP NOT NULL;
ALTER TABLE candleflow.sync_state ADD COLUMN reachable_start timestamptz;
COMMENT ON COLUMN candleflow.sync_state.last_bar_ts IS
    'The newest bar loaded (the watermark); NULL while nothing was reachable.';
COMMENT ON COLUMN candleflow.sync_state.reachable_start IS
    'The oldest bar the provider can serve for this series (its lookback window); NULL = no limit seen.';

-- The BI views show the difference between "not loaded" and "out of reach".
CREATE OR REPLACE VIEW analytics.load_history AS
SELECT a.id, a.run_id, a.symbol, i.exchange, a.timeframe, a.provider, a.window_start,
       a.window_end, a.outcome, a.error, a.rows_fetched, a.rows_valid, a.rows_rejected,
       a.rows_flagged, a.rows_inserted, a.rows_updated, a.rows_unchanged, a.duration_s,
       (a.validation ->> 'gx_success')::boolean AS validation_success, a.started_at,
       a.finished_at, a.rows_out_of_reach
FROM candleflow.load_audit AS a
LEFT JOIN candleflow.instruments AS i ON i.id = a.instrument_id;
COMMENT ON COLUMN analytics.load_history.outcome IS
    'success, failed, rejected (too many invalid rows) or out_of_window (older than the '
    'provider can serve).';
COMMENT ON COLUMN analytics.load_history.window_start IS
    'The window holds the bars that closed in (window_start, window_end].';
COMMENT ON COLUMN analytics.load_history.rows_out_of_reach IS
    'Bars of the window older than the provider''s reachable history.';

CREATE OR REPLACE VIEW analytics.coverage AS
SELECT b.symbol, b.exchange, b.timeframe, min(b.ts) AS first_ts, max(b.ts) AS last_ts,
       count(*) AS bar_count, count(*) FILTER (WHERE b.source = 'rollup') AS rollup_count,
       l.finished_at AS last_load_at, l.outcome AS last_load_outcome, l.run_id AS last_load_run_id,
       r.reachable_start
FROM analytics.bars AS b
LEFT JOIN LATERAL (
    SELECT a.finished_at, a.outcome, a.run_id FROM candleflow.load_audit AS a
    WHERE a.symbol = b.symbol AND a.timeframe = b.timeframe
    ORDER BY a.finished_at DESC, a.id DESC LIMIT 1
) AS l ON true
LEFT JOIN LATERAL (
    SELECT s.reachable_start FROM candleflow.sync_state AS s
    JOIN candleflow.instruments AS i ON i.id = s.instrument_id
    WHERE i.symbol = b.symbol AND s.timeframe = b.timeframe
) AS r ON true
GROUP BY b.symbol, b.exchange, b.timeframe, l.finished_at, l.outcome, l.run_id,
         r.reachable_start;
COMMENT ON COLUMN analytics.coverage.reachable_start IS
    'The oldest bar the provider can serve for this series; history before it is out of '
    'reach, not missing. NULL: no limit seen.';

CREATE OR REPLACE VIEW analytics.freshness AS
SELECT i.symbol, i.exchange, tf.timeframe, n.newest_ts, n.newest_ts + tf.length AS newest_end,
       now() - (n.newest_ts + tf.length) AS age, i.session = '24x7' AS is_24x7,
       2 * tf.length + CASE WHEN i.session = '24x7' THEN interval '10 minutes'
                            ELSE interval '4 days' END AS max_age,
       now() - (n.newest_ts + tf.length) > 2 * tf.length
           + CASE WHEN i.session = '24x7' THEN interval '10 minutes' ELSE interval '4 days' END
           AS is_stale,
       s.reachable_start
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
COMMENT ON COLUMN analytics.freshness.reachable_start IS
    'The oldest bar the provider can serve for this series (NULL: no limit seen).';
