-- Data quality for BI users: what was rejected, and how each load ended.
--
-- analytics.rejected_bars / analytics.rejected_ticks: every row that failed validation, with
-- its symbol, time, the rules it broke and the run that saw it (the candleflow tables hold
-- the same rows; the reader may only read analytics). Rules are a comma-separated text as
-- well as an array: BI tools filter text far more easily than arrays.
-- analytics.load_outcomes: one row per load (load_audit) with its verdict, counts, the rules
-- that fired.
-- analytics.load_history's validation_success read a key at the top of load_audit.validation,
-- where the loads never wrote it (it is under summary): it was always NULL; now it is read
-- from where it is.

CREATE VIEW analytics.rejected_bars AS
SELECT r.symbol, i.exchange, r.timeframe, r.ts, array_to_string(r.rules, ', ') AS rules,
       r.rules AS rule_list, r.run_id, NULLIF(r.provider, '') AS provider, r.window_start,
       r.window_end, r.raw AS raw_values, r.rejected_at
FROM candleflow.rejected_bars AS r
LEFT JOIN candleflow.instruments AS i ON i.id = r.instrument_id;
COMMENT ON VIEW analytics.rejected_bars IS
    'Bars that failed validation and were not loaded: symbol, bar start, the rules broken and '
    'the run that saw them (the last run when seen again).';
COMMENT ON COLUMN analytics.rejected_bars.ts IS 'Bar start, UTC (NULL when the bar had none).';
COMMENT ON COLUMN analytics.rejected_bars.rules IS 'The rules the bar broke, comma-separated.';
COMMENT ON COLUMN analytics.rejected_bars.raw_values IS 'The values as received (JSON).';

CREATE VIEW analytics.rejected_ticks AS
SELECT r.symbol, i.exchange, r.ts, array_to_string(r.rules, ', ') AS rules,
       r.rules AS rule_list, r.run_id, r.raw AS raw_values, r.rejected_at
FROM candleflow.rejected_ticks AS r
LEFT JOIN candleflow.instruments AS i ON i.id = r.instrument_id;
COMMENT ON VIEW analytics.rejected_ticks IS
    'Ticks that failed validation and were not stored: symbol, time, rules broken, run.';
COMMENT ON COLUMN analytics.rejected_ticks.ts IS 'Tick time, UTC (NULL when it had none).';

CREATE VIEW analytics.load_outcomes AS
SELECT a.id AS load_id, a.run_id, a.symbol, i.exchange, a.timeframe, a.provider,
       a.window_start, a.window_end, a.outcome, a.error,
       (a.validation #>> '{summary,gx_success}')::boolean AS validation_success,
       a.rows_fetched, a.rows_valid, a.rows_rejected, a.rows_flagged, a.rows_inserted,
       a.rows_updated, a.rows_unchanged, a.rows_out_of_reach,
       (SELECT string_agg(r.key || ' ' || r.value, ', ' ORDER BY r.key)
        FROM jsonb_each_text(a.validation #> '{summary,rules}') AS r
        WHERE r.value <> '0') AS rules_fired,
       a.duration_s, a.finished_at, coalesce(i.series_session, 'regular') AS series_session
FROM candleflow.load_audit AS a
LEFT JOIN candleflow.instruments AS i ON i.id = a.instrument_id;
COMMENT ON VIEW analytics.load_outcomes IS
    'One row per load of one symbol x timeframe x window: its outcome (success, rejected, '
    'failed, out_of_window), whether validation passed, the counts and the rules that fired.';
COMMENT ON COLUMN analytics.load_outcomes.validation_success IS
    'Whether every expectation passed for this window; NULL when nothing was validated '
    '(an empty window, or a load that failed before validation).';
COMMENT ON COLUMN analytics.load_outcomes.rules_fired IS
    'Rules with at least one row in this window and their row counts, e.g. "high_low 2".';

CREATE OR REPLACE VIEW analytics.load_history AS
SELECT a.id, a.run_id, a.symbol, i.exchange, a.timeframe, a.provider, a.window_start,
       a.window_end, a.outcome, a.error, a.rows_fetched, a.rows_valid, a.rows_rejected,
       a.rows_flagged, a.rows_inserted, a.rows_updated, a.rows_unchanged, a.duration_s,
       COALESCE(a.validation #>> '{summary,gx_success}', a.validation ->> 'gx_success')::boolean
           AS validation_success,
       a.started_at, a.finished_at, a.rows_out_of_reach,
       coalesce(i.series_session, 'regular') AS series_session
FROM candleflow.load_audit AS a
LEFT JOIN candleflow.instruments AS i ON i.id = a.instrument_id;

GRANT SELECT ON analytics.rejected_bars, analytics.rejected_ticks, analytics.load_outcomes
    TO candleflow_reader;
