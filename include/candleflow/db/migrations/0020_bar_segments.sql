-- Compressed segments of closed bars: one row per instrument x timeframe x source x segment
-- (a UTC month for 1m/3m/5m, a UTC year for coarser timeframes), holding the segment's bars
-- as arrays that TOAST compresses. Why arrays in plain PostgreSQL: a row costs 24 B of
-- header and 4 B of line pointer per bar plus its index entry, which is most of a bar's
-- 230 B; an array of small integers costs about 1-2 B per value once compressed, and any
-- PostgreSQL 14+ (managed services included) can store and decode it without an extension.
--
-- The encoding (candleflow.db.segments writes it, segment_rows() and the Python decoder read
-- it; both give back every bar value for value):
--   ts        ts_delta[k]: microseconds from the previous bar (the first: from segment_start)
--   prices    integer mode (price_scale set): every price is an integer number of
--             1/price_scale; close_base is the first close, close_delta[k] the change from
--             the previous close (0 for the first), open_delta[k] = open - previous close,
--             high_delta[k] = high - max(open, close) and low_delta[k] = min(open, close) - low
--             (both >= 0). Float mode (price_scale NULL, when no scale reproduces every price
--             exactly: adjusted or vendor prices): open_float ... close_float as stored.
--   volume    volume_int / volume_scale when exact, else volume_float; NULL elements are
--             NULL volumes; both arrays NULL when the whole segment has no volume.
--   filled    NULL when no bar of the segment is a filled bar.
--   loads     run-length encoded provenance: the bars from load_first[j] (1-based) up to the
--             next run's first were loaded at loaded_at[j] by run_id[j].
-- The key (instrument, timeframe, source, segment_start) is what a late correction rewrites.
CREATE TABLE candleflow.bar_segments (
    instrument_id integer NOT NULL,
    timeframe     text NOT NULL,
    source        text NOT NULL CHECK (source IN ('provider', 'rollup')),
    segment_start timestamptz NOT NULL,
    segment_end   timestamptz NOT NULL,
    bars          integer NOT NULL CHECK (bars > 0),
    first_ts      timestamptz NOT NULL,
    last_ts       timestamptz NOT NULL,
    ts_delta      bigint[] NOT NULL,
    price_scale   bigint CHECK (price_scale > 0),
    close_base    bigint,
    open_delta    integer[],
    high_delta    integer[],
    low_delta     integer[],
    close_delta   integer[],
    open_float    double precision[],
    high_float    double precision[],
    low_float     double precision[],
    close_float   double precision[],
    volume_scale  bigint CHECK (volume_scale > 0),
    volume_int    bigint[],
    volume_float  double precision[],
    filled        boolean[],
    load_first    integer[] NOT NULL,
    loaded_at     timestamptz[] NOT NULL,
    run_id        text[] NOT NULL,
    compressed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (instrument_id, timeframe, source, segment_start),
    CHECK (segment_start <= first_ts AND first_ts <= last_ts AND last_ts < segment_end),
    CHECK (cardinality(ts_delta) = bars),
    CHECK ((price_scale IS NOT NULL AND close_base IS NOT NULL
            AND cardinality(close_delta) = bars AND cardinality(open_delta) = bars
            AND cardinality(high_delta) = bars AND cardinality(low_delta) = bars)
        OR (price_scale IS NULL AND cardinality(close_float) = bars
            AND cardinality(open_float) = bars AND cardinality(high_float) = bars
            AND cardinality(low_float) = bars)),
    CHECK (volume_int IS NULL OR (volume_scale IS NOT NULL AND cardinality(volume_int) = bars)),
    CHECK (volume_float IS NULL OR cardinality(volume_float) = bars),
    CHECK (cardinality(load_first) = cardinality(loaded_at)
           AND cardinality(load_first) = cardinality(run_id) AND load_first[1] = 1)
);
COMMENT ON TABLE candleflow.bar_segments IS
    'Closed bars, compressed: one row per instrument, timeframe, source and segment (month or '
    'year); read them with candleflow.segment_rows(s) or the view candleflow.compressed_bars.';

-- Where the server has lz4 (built --with-lz4), the arrays use it: it decompresses several
-- times faster than pglz at about the same size on these arrays. Elsewhere (the embedded
-- server) they keep the default, pglz.
DO $$
DECLARE
    col text;
BEGIN
    FOREACH col IN ARRAY ARRAY['ts_delta', 'open_delta', 'high_delta', 'low_delta',
                                'close_delta', 'open_float', 'high_float', 'low_float',
                                'close_float', 'volume_int', 'volume_float', 'filled',
                                'load_first', 'loaded_at', 'run_id'] LOOP
        EXECUTE format('ALTER TABLE candleflow.bar_segments ALTER COLUMN %I SET COMPRESSION lz4',
                       col);
    END LOOP;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 is not available on this server: bar_segments keeps pglz';
END
$$;

-- The bars of one segment, value for value, in ts order. Integer arithmetic is exact
-- (bigint sums) and a float8 division by the scale gives the same double as the decoder in
-- Python (both round the exact quotient once).
CREATE FUNCTION candleflow.segment_rows(s candleflow.bar_segments)
RETURNS TABLE (ts timestamptz, open double precision, high double precision,
               low double precision, close double precision, volume double precision,
               filled boolean, loaded_at timestamptz, run_id text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    WITH d AS (
        SELECT u.k,
               s.segment_start + sum(u.dt) OVER w * interval '1 microsecond' AS ts,
               s.close_base + sum(u.c) OVER w AS ci,
               u.o, u.h, u.l, u.c, u.of, u.hf, u.lf, u.cf, u.vi, u.vf, u.f
        FROM unnest(s.ts_delta, s.open_delta, s.high_delta, s.low_delta, s.close_delta,
                    s.open_float, s.high_float, s.low_float, s.close_float,
                    s.volume_int, s.volume_float, s.filled)
             WITH ORDINALITY AS u(dt, o, h, l, c, of, hf, lf, cf, vi, vf, f, k)
        WINDOW w AS (ORDER BY u.k ROWS UNBOUNDED PRECEDING)
    ), p AS (
        SELECT d.*, d.ci - d.c + d.o AS oi FROM d
    )
    SELECT p.ts,
           coalesce(p.oi::float8 / s.price_scale, p.of),
           coalesce((greatest(p.oi, p.ci) + p.h)::float8 / s.price_scale, p.hf),
           coalesce((least(p.oi, p.ci) - p.l)::float8 / s.price_scale, p.lf),
           coalesce(p.ci::float8 / s.price_scale, p.cf),
           coalesce(p.vi::float8 / s.volume_scale, p.vf),
           coalesce(p.f, false),
           s.loaded_at[width_bucket(p.k::integer, s.load_first)],
           s.run_id[width_bucket(p.k::integer, s.load_first)]
    FROM p
    ORDER BY p.k
$$;
COMMENT ON FUNCTION candleflow.segment_rows(candleflow.bar_segments) IS
    'The bars of one compressed segment, in ts order, with the columns of candleflow.bars.';

-- The compressed bars with the columns of candleflow.bars (what a view over open and
-- compressed months unions with the plain rows).
CREATE VIEW candleflow.compressed_bars AS
SELECT s.instrument_id, s.timeframe, r.ts, s.source, r.open, r.high, r.low, r.close,
       r.volume, r.filled, r.loaded_at, r.run_id
FROM candleflow.bar_segments AS s
CROSS JOIN LATERAL candleflow.segment_rows(s) AS r;
COMMENT ON VIEW candleflow.compressed_bars IS
    'Every bar held in candleflow.bar_segments, decoded, with the columns of candleflow.bars.';

-- Rewriting a segment is a write to its series: the API's page cache must see it.
CREATE TRIGGER bar_segments_version_insert AFTER INSERT ON candleflow.bar_segments
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION candleflow.bump_series_versions();
CREATE TRIGGER bar_segments_version_update AFTER UPDATE ON candleflow.bar_segments
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION candleflow.bump_series_versions();
CREATE TRIGGER bar_segments_version_delete AFTER DELETE ON candleflow.bar_segments
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION candleflow.bump_series_versions();
