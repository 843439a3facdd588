-- Catch-up: a scheduled run loads from each series' watermark (sync_state.last_bar_ts), not
-- only its own interval, so a paused DAG, a new deployment or an outage leaves no hole
-- between the history DAG's months and now (candleflow.services.catchup). The slices it
-- loads before its interval are audited like any other, marked here: the sum of their rows
-- is how much the run caught up.
ALTER TABLE candleflow.load_audit ADD COLUMN catch_up boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN candleflow.load_audit.catch_up IS
    'true for a slice a scheduled run loaded between the series'' watermark and its own interval';
