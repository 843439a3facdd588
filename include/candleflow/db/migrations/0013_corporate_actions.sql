-- Corporate actions: splits and cash dividends, stored beside the raw bars and applied on read
-- (candleflow.adjustments has the arithmetic: LEAN's factors, cumulative back from the newest
-- action). One row per instrument, ex-date and kind; one writer (candleflow.db.actions).
--
-- factor is what prices before ex_date are multiplied by: 1 / ratio for a split (ratio = new
-- shares per old: 4 for a 4:1 split), 1 - amount / reference_price for a dividend (reference:
-- the raw close of the session before the ex-date). It is stored, not recomputed, so that an
-- imported factor file (whose reference prices are its own) is applied exactly as written.
CREATE TABLE candleflow.corporate_actions (
    instrument_id   integer NOT NULL REFERENCES candleflow.instruments (id) ON DELETE CASCADE,
    ex_date         date NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('split', 'dividend')),
    ratio           double precision CHECK (ratio > 0),
    amount          double precision CHECK (amount > 0),
    reference_price double precision CHECK (reference_price > 0),
    factor          double precision NOT NULL CHECK (factor > 0),
    source          text NOT NULL,
    run_id          text,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (instrument_id, ex_date, kind),
    CHECK ((kind = 'split' AND ratio IS NOT NULL AND amount IS NULL)
        OR (kind = 'dividend' AND ratio IS NULL AND factor < 1))
);
COMMENT ON TABLE candleflow.corporate_actions IS
    'Splits and cash dividends by ex-date; bars are stored raw and adjusted on read.';
COMMENT ON COLUMN candleflow.corporate_actions.ratio IS
    'Split: new shares per old share (4 for 4:1, 0.1 for a 1:10 reverse split).';
COMMENT ON COLUMN candleflow.corporate_actions.amount IS
    'Dividend: cash per share, in the raw prices of the ex-date.';
COMMENT ON COLUMN candleflow.corporate_actions.factor IS
    'What prices before ex_date are multiplied by (1/ratio; 1 - amount/reference_price).';
COMMENT ON COLUMN candleflow.corporate_actions.source IS
    'Where the action came from: a provider (tradingview) or an imported file (lean, quandl, zipline).';

-- When a provider last told us an instrument's actions: the span of closed sessions it covered
-- (checked_from .. checked_through), or that it has none (has_actions false, e.g. crypto).
-- The sync asks a provider at most once per instrument and session, for the sessions since.
-- checked_close is the raw close of the checked_through session: while no action follows it,
-- the provider's adjusted close of that session is the same number, so one adjusted series
-- confirms that nothing happened since (candleflow.services.action_checks).
CREATE TABLE candleflow.corporate_action_checks (
    instrument_id   integer PRIMARY KEY REFERENCES candleflow.instruments (id) ON DELETE CASCADE,
    provider        text NOT NULL,
    has_actions     boolean NOT NULL,
    checked_from    date,
    checked_through date,
    checked_close   double precision,
    checked_at      timestamptz NOT NULL DEFAULT now(),
    run_id          text,
    CHECK (checked_from <= checked_through)
);
COMMENT ON TABLE candleflow.corporate_action_checks IS
    'Per instrument: which session dates a provider''s corporate actions are known for.';

-- A new, changed or deleted action changes every adjusted read of the instrument: bump the
-- versions of all its series (migration 0009), so the API never serves a stale cached page.
-- Statement triggers with transition tables, one per event (each names only the tables its
-- event has); rows are locked in key order, the order the bars trigger uses, so the two
-- never deadlock.
CREATE FUNCTION candleflow.bump_versions_of(instrument_ids integer[]) RETURNS void
LANGUAGE sql AS $$
    WITH locked AS (
        SELECT v.instrument_id, v.timeframe, v.source FROM candleflow.series_versions AS v
        WHERE v.instrument_id = ANY(instrument_ids)
        ORDER BY 1, 2, 3 FOR UPDATE
    )
    UPDATE candleflow.series_versions AS v SET version = v.version + 1, changed_at = now()
    FROM locked AS l
    WHERE (v.instrument_id, v.timeframe, v.source) = (l.instrument_id, l.timeframe, l.source);
$$;

CREATE FUNCTION candleflow.bump_versions_for_actions() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        UPDATE candleflow.series_versions SET version = version + 1, changed_at = now();
    ELSIF TG_OP = 'INSERT' THEN
        PERFORM candleflow.bump_versions_of(ARRAY(SELECT DISTINCT instrument_id FROM new_rows));
    ELSIF TG_OP = 'UPDATE' THEN
        PERFORM candleflow.bump_versions_of(ARRAY(SELECT instrument_id FROM new_rows
                                                  UNION SELECT instrument_id FROM old_rows));
    ELSE
        PERFORM candleflow.bump_versions_of(ARRAY(SELECT DISTINCT instrument_id FROM old_rows));
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER corporate_actions_version_insert AFTER INSERT ON candleflow.corporate_actions
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION candleflow.bump_versions_for_actions();
CREATE TRIGGER corporate_actions_version_update AFTER UPDATE ON candleflow.corporate_actions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION candleflow.bump_versions_for_actions();
CREATE TRIGGER corporate_actions_version_delete AFTER DELETE ON candleflow.corporate_actions
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION candleflow.bump_versions_for_actions();
CREATE TRIGGER corporate_actions_version_truncate AFTER TRUNCATE ON candleflow.corporate_actions
    FOR EACH STATEMENT EXECUTE FUNCTION candleflow.bump_versions_for_actions();

-- The audit of a load counts the corporate actions it recorded.
ALTER TABLE candleflow.load_audit
    ADD COLUMN actions_recorded integer NOT NULL DEFAULT 0 CHECK (actions_recorded >= 0);
COMMENT ON COLUMN candleflow.load_audit.actions_recorded IS
    'Corporate actions this load inserted, changed or removed (splits, dividends).';

-- BI: the actions, the adjustment factors per period, and adjusted bars.
CREATE VIEW analytics.corporate_actions AS
SELECT i.symbol, i.exchange, a.ex_date, a.kind, a.ratio, a.amount, a.reference_price, a.factor,
       a.source, a.recorded_at
FROM candleflow.corporate_actions AS a
JOIN candleflow.instruments AS i ON i.id = a.instrument_id;
COMMENT ON VIEW analytics.corporate_actions IS
    'Splits and cash dividends per symbol by ex-date (bars are stored raw; see adjusted_bars).';
COMMENT ON COLUMN analytics.corporate_actions.symbol IS 'EXCHANGE:TICKER.';
COMMENT ON COLUMN analytics.corporate_actions.exchange IS 'The exchange part of the symbol.';
COMMENT ON COLUMN analytics.corporate_actions.ex_date IS
    'First session traded without the split or dividend (exchange date).';
COMMENT ON COLUMN analytics.corporate_actions.kind IS 'split or dividend.';
COMMENT ON COLUMN analytics.corporate_actions.ratio IS 'Split: new shares per old share.';
COMMENT ON COLUMN analytics.corporate_actions.amount IS 'Dividend: cash per share.';
COMMENT ON COLUMN analytics.corporate_actions.reference_price IS
    'Dividend: the raw close before the ex-date its factor is computed from.';
COMMENT ON COLUMN analytics.corporate_actions.factor IS
    'Prices before ex_date are multiplied by this (1/ratio; 1 - amount/reference_price).';
COMMENT ON COLUMN analytics.corporate_actions.source IS 'Provider or imported file it came from.';
COMMENT ON COLUMN analytics.corporate_actions.recorded_at IS 'When it was last written.';

CREATE VIEW analytics.adjustment_factors AS
WITH days AS (  -- one row per instrument and ex-date (a split and a dividend may share one)
    SELECT instrument_id, ex_date,
           exp(coalesce(sum(ln(factor)) FILTER (WHERE kind = 'split'), 0)) AS split,
           exp(sum(ln(factor))) AS total
    FROM candleflow.corporate_actions
    GROUP BY instrument_id, ex_date
), periods AS (  -- the factors of the sessions before each ex-date, back from the newest
    SELECT instrument_id, ex_date,
           lag(ex_date) OVER (PARTITION BY instrument_id ORDER BY ex_date) AS valid_from,
           exp(sum(ln(split)) OVER newest_first) AS split_factor,
           exp(sum(ln(total)) OVER newest_first) AS total_factor
    FROM days
    WINDOW newest_first AS (PARTITION BY instrument_id ORDER BY ex_date DESC)
)
SELECT i.symbol, i.exchange, p.valid_from, p.ex_date AS valid_until, p.split_factor,
       p.total_factor / p.split_factor AS price_factor, p.total_factor AS total_return_factor
FROM periods AS p
JOIN candleflow.instruments AS i ON i.id = p.instrument_id;
COMMENT ON VIEW analytics.adjustment_factors IS
    'Per symbol, the adjustment factors of the sessions in [valid_from, valid_until): the '
    'products of the factors of every later action (LEAN''s arithmetic). Sessions on or after '
    'the newest ex-date have factor 1.';
COMMENT ON COLUMN analytics.adjustment_factors.symbol IS 'EXCHANGE:TICKER.';
COMMENT ON COLUMN analytics.adjustment_factors.exchange IS 'The exchange part of the symbol.';
COMMENT ON COLUMN analytics.adjustment_factors.valid_from IS
    'First session date of the period (inclusive); NULL: from the first bar.';
COMMENT ON COLUMN analytics.adjustment_factors.valid_until IS
    'The ex-date that ends the period (exclusive).';
COMMENT ON COLUMN analytics.adjustment_factors.split_factor IS
    'Split-adjusted price = raw x split_factor; volume = raw / split_factor.';
COMMENT ON COLUMN analytics.adjustment_factors.price_factor IS 'The dividends'' part alone.';
COMMENT ON COLUMN analytics.adjustment_factors.total_return_factor IS
    'Total-return price = raw x split_factor x price_factor.';

CREATE VIEW analytics.adjusted_bars AS
SELECT b.symbol, b.exchange, b.timeframe, b.ts, b.session_date,
       b.open * s.f AS open, b.high * s.f AS high, b.low * s.f AS low, b.close * s.f AS close,
       b.volume / s.f AS volume,
       b.open * t.f AS tr_open, b.high * t.f AS tr_high, b.low * t.f AS tr_low,
       b.close * t.f AS tr_close, s.f AS split_factor, t.f AS total_return_factor, b.source
FROM analytics.bars AS b
LEFT JOIN analytics.adjustment_factors AS a
       ON a.symbol = b.symbol AND b.session_date < a.valid_until
      AND (a.valid_from IS NULL OR b.session_date >= a.valid_from)
CROSS JOIN LATERAL (SELECT coalesce(a.split_factor, 1.0) AS f) AS s
CROSS JOIN LATERAL (SELECT coalesce(a.total_return_factor, 1.0) AS f) AS t;
COMMENT ON VIEW analytics.adjusted_bars IS
    'analytics.bars adjusted for corporate actions: open..volume split-adjusted (what charts '
    'show), tr_* also for dividends (total return). Filter on symbol, timeframe and ts.';
COMMENT ON COLUMN analytics.adjusted_bars.symbol IS 'EXCHANGE:TICKER.';
COMMENT ON COLUMN analytics.adjusted_bars.exchange IS 'The exchange part of the symbol.';
COMMENT ON COLUMN analytics.adjusted_bars.timeframe IS 'Bar length: 1m ... 1mo.';
COMMENT ON COLUMN analytics.adjusted_bars.ts IS 'Bar start, UTC.';
COMMENT ON COLUMN analytics.adjusted_bars.session_date IS
    'Trading date in the exchange timezone; actions apply to sessions before their ex-date.';
COMMENT ON COLUMN analytics.adjusted_bars.open IS 'Split-adjusted open.';
COMMENT ON COLUMN analytics.adjusted_bars.high IS 'Split-adjusted high.';
COMMENT ON COLUMN analytics.adjusted_bars.low IS 'Split-adjusted low.';
COMMENT ON COLUMN analytics.adjusted_bars.close IS 'Split-adjusted close.';
COMMENT ON COLUMN analytics.adjusted_bars.volume IS 'Split-adjusted volume (raw / split_factor).';
COMMENT ON COLUMN analytics.adjusted_bars.tr_open IS 'Open adjusted for splits and dividends.';
COMMENT ON COLUMN analytics.adjusted_bars.tr_high IS 'High adjusted for splits and dividends.';
COMMENT ON COLUMN analytics.adjusted_bars.tr_low IS 'Low adjusted for splits and dividends.';
COMMENT ON COLUMN analytics.adjusted_bars.tr_close IS
    'Close adjusted for splits and dividends (total return).';
COMMENT ON COLUMN analytics.adjusted_bars.split_factor IS 'The factor applied to open..close.';
COMMENT ON COLUMN analytics.adjusted_bars.total_return_factor IS
    'The factor applied to tr_open..tr_close.';
COMMENT ON COLUMN analytics.adjusted_bars.source IS 'provider or rollup.';

GRANT SELECT ON analytics.corporate_actions, analytics.adjustment_factors,
    analytics.adjusted_bars TO candleflow_reader;
