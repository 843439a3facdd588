-- State of the incremental tick -> bar rollup (BarManager).
--
-- rollup_dirty: the intervals whose bars must be (re)built. A statement trigger on ticks
-- marks the 1m interval of every inserted priced tick, in the inserting transaction, so
-- no insert path (COPY, INSERT ... ON CONFLICT, a late tick) can forget to: a rollup then
-- reads only the ticks of dirty intervals, and its cost grows with the new ticks, not with
-- the table. Building a 1m bar marks the enclosing 5m/15m/1h/1d buckets; each level
-- consumes its entries once the bucket is closed (a forming bar is never final).
-- `cumulative` says the interval holds size-less ticks whose volume comes from the
-- provider's cumulative day_volume, which needs the slower ordered (window) path.
CREATE TABLE candleflow.rollup_dirty (
    instrument_id integer NOT NULL REFERENCES candleflow.instruments (id),
    timeframe     text NOT NULL,
    ts            timestamptz NOT NULL,
    cumulative    boolean NOT NULL DEFAULT false,
    marked_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (instrument_id, timeframe, ts)
);
CREATE INDEX rollup_dirty_tf ON candleflow.rollup_dirty (timeframe, ts);

-- The rollup watermark: ticks before rolled_until - lookback are rejected as `late`.
CREATE TABLE candleflow.rollup_state (
    instrument_id integer PRIMARY KEY REFERENCES candleflow.instruments (id),
    rolled_until  timestamptz NOT NULL,
    last_run_id   text,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION candleflow.mark_ticks_dirty() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO candleflow.rollup_dirty AS d (instrument_id, timeframe, ts, cumulative)
    SELECT instrument_id, '1m', date_bin('1 minute', ts, timestamptz '1970-01-01 00:00+00'),
           bool_or(size IS NULL AND day_volume IS NOT NULL)
    FROM new_ticks
    WHERE price IS NOT NULL
    GROUP BY 1, 2, 3
    ON CONFLICT (instrument_id, timeframe, ts) DO UPDATE
        SET cumulative = d.cumulative OR EXCLUDED.cumulative, marked_at = now();
    RETURN NULL;
END
$$;

CREATE TRIGGER ticks_mark_rollup_dirty
    AFTER INSERT ON candleflow.ticks
    REFERENCING NEW TABLE AS new_ticks
    FOR EACH STATEMENT EXECUTE FUNCTION candleflow.mark_ticks_dirty();
