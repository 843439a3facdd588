-- Partitioned bars and ticks (docs/scaling.md, "Partitioning"), same columns, constraints,
-- keys and triggers, so every reader and writer is unchanged.
--
-- Layout (candleflow.partition_layout; candleflow.db.partitions reads it):
--   bars   PARTITION BY LIST (timeframe): one partition per timeframe.
--          1m, 3m, 5m         BY RANGE (ts), one partition per UTC month + a DEFAULT;
--          15m .. 4h          BY RANGE (ts), one partition per UTC year + a DEFAULT;
--          1d, 1w, 1mo        not sub-partitioned (few rows).
--          The periods are those of the compressed segments (candleflow.db.segments), so a
--          compressed month (or year) is one partition emptied.
--   ticks  PARTITION BY RANGE (ts), one partition per UTC month + a DEFAULT.
-- The primary keys hold the partition keys already ((instrument_id, timeframe, source, ts),
-- (instrument_id, ts, seq)), so the writers' ON CONFLICT targets stay valid.
--
-- candleflow.ensure_partition creates the partition of one period; when the parent's
-- DEFAULT holds rows of that period it moves them into the new table before attaching it
-- (PostgreSQL refuses to create a partition whose rows sit in the DEFAULT). The maintenance
-- (candleflow.db.partitions.maintain, warehouse_healthcheck DAG) creates partitions ahead
-- and adopts whatever reached a DEFAULT; the health check fails while a DEFAULT holds rows.
--
-- Conversion: the rows are written once. The views that read the tables are saved
-- (definition, comment, grants), dropped, and restated from the saved text after the swap;
-- the old tables are renamed, the partitioned ones created with partitions for every
-- period that holds rows (and the current one and 3 months ahead), the rows copied with
-- INSERT ... SELECT (routed to their partitions), the old tables dropped, then the triggers
-- are created again: after the copy, so it bumps no series version and marks no tick dirty.

CREATE TABLE candleflow.partition_layout (
    parent  text PRIMARY KEY,   -- a range-partitioned table in schema candleflow
    period  text NOT NULL CHECK (period IN ('month', 'year'))
);
COMMENT ON TABLE candleflow.partition_layout IS
    'The range-partitioned tables and the period of their partitions (migration 0022).';
INSERT INTO candleflow.partition_layout VALUES
    ('bars_1m', 'month'), ('bars_3m', 'month'), ('bars_5m', 'month'),
    ('bars_15m', 'year'), ('bars_30m', 'year'), ('bars_45m', 'year'), ('bars_1h', 'year'),
    ('bars_2h', 'year'), ('bars_3h', 'year'), ('bars_4h', 'year'),
    ('ticks', 'month');

CREATE FUNCTION candleflow.ensure_partition(parent text, at timestamptz) RETURNS boolean
LANGUAGE plpgsql AS $$
-- The partition of candleflow.<parent> that holds instant `at`: created when missing (true),
-- with the rows of its period that sat in the parent's DEFAULT moved into it first.
DECLARE
    per text := (SELECT l.period FROM candleflow.partition_layout AS l WHERE l.parent = $1);
    lo timestamptz;
    hi timestamptz;
    child text;
    dflt text;
    stray boolean := false;
BEGIN
    IF per IS NULL THEN
        RAISE EXCEPTION 'candleflow.% is not in candleflow.partition_layout', parent;
    END IF;
    lo := date_trunc(per, at, 'UTC');
    hi := (lo AT TIME ZONE 'UTC' + ('1 ' || per)::interval) AT TIME ZONE 'UTC';
    child := parent || '_' || to_char(lo AT TIME ZONE 'UTC',
                                      CASE per WHEN 'month' THEN 'YYYY_MM' ELSE 'YYYY' END);
    IF to_regclass(format('candleflow.%I', child)) IS NOT NULL THEN
        RETURN false;
    END IF;
    SELECT c.relname INTO dflt
    FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid
    WHERE i.inhparent = format('candleflow.%I', parent)::regclass
      AND pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT';
    IF dflt IS NOT NULL THEN
        EXECUTE format('SELECT EXISTS (SELECT FROM candleflow.%I WHERE ts >= $1 AND ts < $2)',
                       dflt) INTO stray USING lo, hi;
    END IF;
    IF stray THEN
        -- rows of this period in the DEFAULT: move them into a table of the partition's
        -- shape, then attach it (the DEFAULT is scanned once more by ATTACH, now clean)
        EXECUTE format('CREATE TABLE candleflow.%I (LIKE candleflow.%I INCLUDING ALL)',
                       child, parent);
        EXECUTE format('WITH moved AS (DELETE FROM candleflow.%I WHERE ts >= $1 AND ts < $2'
                       ' RETURNING *) INSERT INTO candleflow.%I SELECT * FROM moved',
                       dflt, child) USING lo, hi;
        EXECUTE format('ALTER TABLE candleflow.%I ATTACH PARTITION candleflow.%I'
                       ' FOR VALUES FROM (%L) TO (%L)', parent, child, lo, hi);
    ELSE
        EXECUTE format('CREATE TABLE candleflow.%I PARTITION OF candleflow.%I'
                       ' FOR VALUES FROM (%L) TO (%L)', child, parent, lo, hi);
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION candleflow.ensure_partition(text, timestamptz) IS
    'Create the partition of candleflow.<parent> (candleflow.partition_layout) holding an '
    'instant, adopting the rows of its period from the DEFAULT; false when it exists.';

-- 1. The views that read bars or ticks, at any depth: saved (with their column comments),
--    then dropped.
CREATE TEMPORARY TABLE _saved_views ON COMMIT DROP AS
WITH RECURSIVE dep(oid, depth) AS (
    SELECT 'candleflow.bars'::regclass::oid, 0
    UNION ALL
    SELECT 'candleflow.ticks'::regclass::oid, 0
    UNION ALL
    SELECT r.ev_class, d.depth + 1
    FROM dep AS d
    JOIN pg_depend AS x ON x.refobjid = d.oid AND x.classid = 'pg_rewrite'::regclass
    JOIN pg_rewrite AS r ON r.oid = x.objid
    WHERE r.ev_class <> d.oid
)
SELECT d.oid, n.nspname, c.relname, max(d.depth) AS depth,
       pg_get_viewdef(d.oid) AS definition,
       obj_description(d.oid, 'pg_class') AS note,
       c.relacl
FROM dep AS d
JOIN pg_class AS c ON c.oid = d.oid
JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE d.depth > 0
GROUP BY d.oid, n.nspname, c.relname, c.relacl;

CREATE TEMPORARY TABLE _saved_view_columns ON COMMIT DROP AS
SELECT s.nspname, s.relname, a.attname, d.description AS note
FROM _saved_views AS s
JOIN pg_description AS d ON d.objoid = s.oid AND d.classoid = 'pg_class'::regclass
JOIN pg_attribute AS a ON a.attrelid = s.oid AND a.attnum = d.objsubid
WHERE d.objsubid > 0;

DO $$
DECLARE
    v record;
BEGIN
    IF EXISTS (SELECT FROM _saved_views AS s JOIN pg_class AS c ON c.oid = s.oid
               WHERE c.relkind <> 'v') THEN
        RAISE EXCEPTION 'a materialized view reads candleflow.bars or ticks; drop it first';
    END IF;
    FOR v IN SELECT * FROM _saved_views ORDER BY depth DESC LOOP
        EXECUTE format('DROP VIEW IF EXISTS %I.%I', v.nspname, v.relname);
    END LOOP;
END
$$;

-- 2. The old tables step aside (their key indexes too: index names are per schema).
ALTER TABLE candleflow.bars RENAME TO bars_unpartitioned;
ALTER INDEX candleflow.bars_pkey RENAME TO bars_unpartitioned_pkey;
ALTER TABLE candleflow.ticks RENAME TO ticks_unpartitioned;
ALTER INDEX candleflow.ticks_pkey RENAME TO ticks_unpartitioned_pkey;

-- 3. The partitioned tables, as 0001 and later migrations left the old ones.
CREATE TABLE candleflow.bars (
    instrument_id integer NOT NULL,
    timeframe text NOT NULL,
    ts timestamptz NOT NULL,
    source text NOT NULL DEFAULT 'provider',
    open double precision NOT NULL,
    high double precision NOT NULL,
    low double precision NOT NULL,
    close double precision NOT NULL,
    volume double precision,
    filled boolean NOT NULL DEFAULT false,
    loaded_at timestamptz NOT NULL DEFAULT now(),
    run_id text,
    CONSTRAINT bars_check CHECK (high >= low),
    CONSTRAINT bars_check1 CHECK (high >= open AND high >= close AND low <= open AND low <= close),
    CONSTRAINT bars_source_check CHECK (source IN ('provider', 'rollup')),
    CONSTRAINT bars_timeframe_check CHECK (timeframe IN ('1m', '3m', '5m', '15m', '30m', '45m',
                                                         '1h', '2h', '3h', '4h', '1d', '1w',
                                                         '1mo')),
    CONSTRAINT bars_volume_check CHECK (volume >= 0),
    CONSTRAINT bars_pkey PRIMARY KEY (instrument_id, timeframe, source, ts)
) PARTITION BY LIST (timeframe);

CREATE TABLE candleflow.ticks (
    instrument_id integer NOT NULL,
    ts timestamptz NOT NULL,
    seq bigint NOT NULL DEFAULT 0,
    price double precision,
    size double precision,
    day_volume double precision,
    bid double precision,
    ask double precision,
    source text NOT NULL DEFAULT 'provider',
    loaded_at timestamptz NOT NULL DEFAULT now(),
    run_id text,
    CONSTRAINT ticks_check CHECK (price IS NOT NULL OR bid IS NOT NULL OR ask IS NOT NULL),
    CONSTRAINT ticks_day_volume_check CHECK (day_volume >= 0),
    CONSTRAINT ticks_price_check CHECK (price > 0),
    CONSTRAINT ticks_size_check CHECK (size >= 0),
    CONSTRAINT ticks_pkey PRIMARY KEY (instrument_id, ts, seq)
) PARTITION BY RANGE (ts);
CREATE TABLE candleflow.ticks_default PARTITION OF candleflow.ticks DEFAULT;

DO $$
DECLARE
    tf text;
BEGIN
    FOREACH tf IN ARRAY ARRAY['1m', '3m', '5m', '15m', '30m', '45m', '1h', '2h', '3h', '4h'] LOOP
        EXECUTE format('CREATE TABLE candleflow.%I PARTITION OF candleflow.bars'
                       ' FOR VALUES IN (%L) PARTITION BY RANGE (ts)', 'bars_' || tf, tf);
        EXECUTE format('CREATE TABLE candleflow.%I PARTITION OF candleflow.%I DEFAULT',
                       'bars_' || tf || '_default', 'bars_' || tf);
    END LOOP;
    FOREACH tf IN ARRAY ARRAY['1d', '1w', '1mo'] LOOP
        EXECUTE format('CREATE TABLE candleflow.%I PARTITION OF candleflow.bars'
                       ' FOR VALUES IN (%L)', 'bars_' || tf, tf);
    END LOOP;
END
$$;

-- 4. A partition for every period that holds rows, and the current one and 3 months ahead.
SELECT count(*) FILTER (WHERE candleflow.ensure_partition(p.parent, p.at)) AS created
FROM (
    SELECT DISTINCT 'bars_' || b.timeframe AS parent, date_trunc(l.period, b.ts, 'UTC') AS at
    FROM candleflow.bars_unpartitioned AS b
    JOIN candleflow.partition_layout AS l ON l.parent = 'bars_' || b.timeframe
    UNION
    SELECT DISTINCT 'ticks', date_trunc(l.period, k.ts, 'UTC')
    FROM candleflow.ticks_unpartitioned AS k
    JOIN candleflow.partition_layout AS l ON l.parent = 'ticks'
    UNION
    SELECT l.parent, now() + m * interval '1 month'
    FROM candleflow.partition_layout AS l CROSS JOIN generate_series(0, 3) AS m
) AS p;

-- 5. The rows, written once.
INSERT INTO candleflow.bars SELECT * FROM candleflow.bars_unpartitioned;
INSERT INTO candleflow.ticks SELECT * FROM candleflow.ticks_unpartitioned;
DROP TABLE candleflow.bars_unpartitioned;
DROP TABLE candleflow.ticks_unpartitioned;

-- 6. The triggers (0002, 0009, 0017), on the partitioned tables.
CREATE TRIGGER ticks_mark_rollup_dirty AFTER INSERT ON candleflow.ticks
    REFERENCING NEW TABLE AS new_ticks
    FOR EACH STATEMENT EXECUTE FUNCTION candleflow.mark_ticks_dirty();
CREATE TRIGGER bars_version_insert AFTER INSERT ON candleflow.bars
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION candleflow.bump_series_versions();
CREATE TRIGGER bars_version_update AFTER UPDATE ON candleflow.bars
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION candleflow.bump_series_versions();
CREATE TRIGGER bars_version_delete AFTER DELETE ON candleflow.bars
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION candleflow.bump_series_versions();
CREATE TRIGGER bars_version_truncate AFTER TRUNCATE ON candleflow.bars
    FOR EACH STATEMENT EXECUTE FUNCTION candleflow.bump_series_versions();
CREATE TRIGGER bars_keep_revisions AFTER UPDATE ON candleflow.bars
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION candleflow.keep_bar_revisions();

-- 7. The views again, from their saved text, with their comments (of columns too) and grants.
DO $$
DECLARE
    v record;
    g record;
BEGIN
    FOR v IN SELECT * FROM _saved_views ORDER BY depth LOOP
        EXECUTE format('CREATE VIEW %I.%I AS %s', v.nspname, v.relname, v.definition);
        IF v.note IS NOT NULL THEN
            EXECUTE format('COMMENT ON VIEW %I.%I IS %L', v.nspname, v.relname, v.note);
        END IF;
        FOR g IN
            SELECT c.attname, c.note FROM _saved_view_columns AS c
            WHERE c.nspname = v.nspname AND c.relname = v.relname
        LOOP
            EXECUTE format('COMMENT ON COLUMN %I.%I.%I IS %L', v.nspname, v.relname,
                           g.attname, g.note);
        END LOOP;
        FOR g IN
            SELECT a.privilege_type, r.rolname
            FROM aclexplode(v.relacl) AS a JOIN pg_roles AS r ON r.oid = a.grantee
            WHERE a.grantee <> a.grantor
        LOOP
            EXECUTE format('GRANT %s ON %I.%I TO %I', g.privilege_type, v.nspname, v.relname,
                           g.rolname);
        END LOOP;
    END LOOP;
END
$$;
