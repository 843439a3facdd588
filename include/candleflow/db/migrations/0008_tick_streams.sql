-- Tick identity across collector processes: the live stream's sequence per instrument.
--
-- A tick is keyed (instrument_id, ts, seq). TradingView stamps trades to the second, so
-- several ticks share a ts and seq orders them. seq used to restart at 1 in every collector
-- process, so two capture runs of one symbol interleaved their ticks of the same second
-- (the second run's 1..4 sorted before the first run's 81) and a distinct tick could
-- collide with another's key. Now one collector at a time owns an instrument's stream (a
-- session advisory lock, candleflow.db.locks.collector_key) and continues its sequence from
-- last_seq, recorded here in the transaction that stores each batch. Live seqs start at
-- 2^32 (candleflow.db.ticks.STREAM_SEQ_BASE), above any per-timestamp ordinal a file import
-- assigns, so the two never meet.
CREATE TABLE candleflow.tick_streams (
    instrument_id integer PRIMARY KEY REFERENCES candleflow.instruments (id),
    last_seq      bigint NOT NULL,
    run_id        text,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE candleflow.tick_streams IS
    'Per instrument: the last seq the live tick stream stored (the next collector continues it).';
