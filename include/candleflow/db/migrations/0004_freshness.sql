-- Freshness checks: per loaded series, the newest bar against the newest bar its calendar
-- says should be in by now. Written by the freshness_check DAG; shown to BI tools.
CREATE TABLE candleflow.freshness_checks (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    checked_at    timestamptz NOT NULL DEFAULT now(),
    run_id        text,
    instrument_id integer NOT NULL REFERENCES candleflow.instruments (id),
    timeframe     text NOT NULL,
    newest_ts     timestamptz,
    expected_ts   timestamptz,
    is_stale      boolean NOT NULL,
    lag           interval
);
CREATE INDEX freshness_checks_latest
    ON candleflow.freshness_checks (instrument_id, timeframe, checked_at DESC);

CREATE VIEW analytics.freshness_checks AS
SELECT DISTINCT ON (f.instrument_id, f.timeframe)
       i.symbol, i.exchange, f.timeframe, f.checked_at, f.newest_ts, f.expected_ts,
       f.is_stale, f.lag
FROM candleflow.freshness_checks AS f
JOIN candleflow.instruments AS i ON i.id = f.instrument_id
ORDER BY f.instrument_id, f.timeframe, f.checked_at DESC;
COMMENT ON VIEW analytics.freshness_checks IS
    'The latest calendar-aware freshness check per symbol and timeframe: is_stale when the '
    'newest stored bar is older than the newest bar the exchange calendar says should be loaded.';
COMMENT ON COLUMN analytics.freshness_checks.expected_ts IS
    'Start of the newest bar that should be in the warehouse by checked_at.';
COMMENT ON COLUMN analytics.freshness_checks.lag IS 'expected_ts - newest_ts when stale.';
GRANT SELECT ON analytics.freshness_checks TO candleflow_reader;
