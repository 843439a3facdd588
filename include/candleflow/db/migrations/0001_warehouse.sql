-- The warehouse schema of DESIGN.md: instruments, bars, ticks, the rejected tables,
-- the sync watermark, the load audit and the health-check log.
CREATE SCHEMA IF NOT EXISTS candleflow;

CREATE TABLE candleflow.instruments (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    symbol      text NOT NULL UNIQUE CHECK (symbol ~ '^[^:\s]+:[^:\s]+$'),
    exchange    text NOT NULL,
    ticker      text NOT NULL,
    description text NOT NULL DEFAULT '',
    type        text NOT NULL DEFAULT '',
    currency    text NOT NULL DEFAULT '',
    timezone    text NOT NULL DEFAULT 'Etc/UTC',
    session     text NOT NULL DEFAULT '24x7',
    price_scale integer NOT NULL DEFAULT 100 CHECK (price_scale > 0),
    provider    text NOT NULL DEFAULT '',
    active      boolean NOT NULL DEFAULT true,
    first_seen  timestamptz NOT NULL DEFAULT now(),
    last_seen   timestamptz NOT NULL DEFAULT now(),
    CHECK (symbol = exchange || ':' || ticker)
);

-- source is part of the key: a provider bar and a rolled-up bar of the same
-- instrument, timeframe and ts live side by side and never overwrite each other.
CREATE TABLE candleflow.bars (
    instrument_id integer NOT NULL REFERENCES candleflow.instruments (id),
    timeframe     text NOT NULL
        CHECK (timeframe IN ('1m','3m','5m','15m','30m','45m','1h','2h','3h','4h','1d','1w','1mo')),
    ts            timestamptz NOT NULL,
    source        text NOT NULL DEFAULT 'provider' CHECK (source IN ('provider', 'rollup')),
    open          double precision NOT NULL,
    high          double precision NOT NULL,
    low           double precision NOT NULL,
    close         double precision NOT NULL,
    volume        double precision CHECK (volume >= 0),
    filled        boolean NOT NULL DEFAULT false,
    loaded_at     timestamptz NOT NULL DEFAULT now(),
    run_id        text,
    PRIMARY KEY (instrument_id, timeframe, source, ts),
    CHECK (high >= low),
    CHECK (high >= open AND high >= close AND low <= open AND low <= close)
);

CREATE TABLE candleflow.ticks (
    instrument_id integer NOT NULL REFERENCES candleflow.instruments (id),
    ts            timestamptz NOT NULL,
    seq           bigint NOT NULL DEFAULT 0,
    price         double precision CHECK (price > 0),
    size          double precision CHECK (size >= 0),
    day_volume    double precision CHECK (day_volume >= 0),
    bid           double precision,
    ask           double precision,
    source        text NOT NULL DEFAULT 'provider',
    loaded_at     timestamptz NOT NULL DEFAULT now(),
    run_id        text,
    PRIMARY KEY (instrument_id, ts, seq),
    CHECK (price IS NOT NULL OR bid IS NOT NULL OR ask IS NOT NULL)
);

CREATE TABLE candleflow.rejected_bars (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id        text,
    instrument_id integer REFERENCES candleflow.instruments (id),
    symbol        text NOT NULL,
    timeframe     text NOT NULL,
    ts            timestamptz,
    rules         text[] NOT NULL CHECK (cardinality(rules) > 0),
    raw           jsonb NOT NULL,
    rejected_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rejected_bars_run ON candleflow.rejected_bars (run_id);

CREATE TABLE candleflow.rejected_ticks (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id        text,
    instrument_id integer REFERENCES candleflow.instruments (id),
    symbol        text NOT NULL,
    ts            timestamptz,
    rules         text[] NOT NULL CHECK (cardinality(rules) > 0),
    raw           jsonb NOT NULL,
    rejected_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rejected_ticks_run ON candleflow.rejected_ticks (run_id);

-- The watermark: the last complete bar loaded per instrument and timeframe.
CREATE TABLE candleflow.sync_state (
    instrument_id integer NOT NULL REFERENCES candleflow.instruments (id),
    timeframe     text NOT NULL,
    last_bar_ts   timestamptz NOT NULL,
    last_run_id   text,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (instrument_id, timeframe)
);

CREATE TABLE candleflow.load_audit (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id         text NOT NULL,
    instrument_id  integer REFERENCES candleflow.instruments (id),
    symbol         text NOT NULL,
    timeframe      text NOT NULL,
    provider       text NOT NULL,
    window_start   timestamptz NOT NULL,
    window_end     timestamptz NOT NULL,
    rows_fetched   integer NOT NULL DEFAULT 0 CHECK (rows_fetched >= 0),
    rows_valid     integer NOT NULL DEFAULT 0 CHECK (rows_valid >= 0),
    rows_rejected  integer NOT NULL DEFAULT 0 CHECK (rows_rejected >= 0),
    rows_flagged   integer NOT NULL DEFAULT 0 CHECK (rows_flagged >= 0),
    rows_inserted  integer NOT NULL DEFAULT 0 CHECK (rows_inserted >= 0),
    rows_updated   integer NOT NULL DEFAULT 0 CHECK (rows_updated >= 0),
    rows_unchanged integer NOT NULL DEFAULT 0 CHECK (rows_unchanged >= 0),
    duration_s     double precision NOT NULL DEFAULT 0,
    outcome        text NOT NULL CHECK (outcome IN ('success', 'failed', 'rejected')),
    error          text,
    validation     jsonb,
    started_at     timestamptz NOT NULL,
    finished_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (window_start < window_end)
);
CREATE INDEX load_audit_latest ON candleflow.load_audit (instrument_id, timeframe, finished_at DESC);
CREATE INDEX load_audit_run ON candleflow.load_audit (run_id);

CREATE TABLE candleflow.health_checks (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    checked_at     timestamptz NOT NULL DEFAULT now(),
    ok             boolean NOT NULL,
    schema_version integer,
    expected_version integer NOT NULL,
    detail         text NOT NULL DEFAULT '',
    run_id         text
);
