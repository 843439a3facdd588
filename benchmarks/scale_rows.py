"""Candidate physical rows for the open month, measured by ``bench_scale.py`` (not a benchmark).

Each candidate is a table built beside ``candleflow.bars`` and filled with the same bars in
the order the DAGs write them (15-minute windows, one instrument after another, so every
series appends at its own end of the key range, as live loads do), then ``VACUUM ANALYZE``d
and sized. Candidates:

- ``as migrated``: ``candleflow.bars`` itself (text timeframe/source, run_id text per row,
  loaded_at, filled; PK on instrument, timeframe, source, ts);
- ``compact``: (series_id int4, load_id int4, ts, open, high, low, close, volume): the series
  table carries instrument, timeframe, source and session, the load id replaces loaded_at
  and run_id; PK (series_id, ts) at the default leaf fillfactor (90);
- ``compact, PK fillfactor 100``: the same, leaves packed full;
- ``compact, unique (series_id, minute)``: a unique index on two int4 (the minute since the
  epoch from an IMMUTABLE function) instead of (int4, timestamptz); PostgreSQL refuses it on
  a partitioned parent (it lacks ``ts``), so it exists per partition only;
- ``compact + loaded_at``: (series_id int4, flags int2, ts, loaded_at, OHLCV): the load's time
  per row instead of a load id, ``filled`` in the flags; PK (series_id, ts).
"""

from __future__ import annotations

from psycopg2 import sql

WINDOW = 15
_MINUTE = """
CREATE OR REPLACE FUNCTION bench.minute_of(timestamptz) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT (extract(epoch FROM $1) / 60)::integer $$
"""
_SERIES = """
FROM generate_series(0, %(windows)s - 1) AS w(n)
CROSS JOIN generate_series(1, %(instruments)s) AS i(id)
CROSS JOIN LATERAL (
    SELECT timestamptz '2024-01-01 00:00+00' + make_interval(mins => w.n * %(window)s + k) AS ts,
           100 + random() AS o, 100 + random() AS c, random() / 10 AS r1, random() / 10 AS r2,
           round((random() * 10000)::numeric, 2)::float8 AS v
    FROM generate_series(0, %(window)s - 1) AS k
) AS t
ORDER BY w.n, i.id, t.ts
"""
CANDIDATES: dict[str, tuple[str, ...]] = {
    "as migrated (candleflow.bars)": (),
    "compact: series int4, load int4, ts, OHLCV; PK (series_id, ts)": (
        "CREATE TABLE bench.compact (series_id integer NOT NULL, load_id integer NOT NULL,"
        " ts timestamptz NOT NULL, open float8 NOT NULL, high float8 NOT NULL,"
        " low float8 NOT NULL, close float8 NOT NULL, volume float8,"
        " PRIMARY KEY (series_id, ts))",
        "INSERT INTO bench.compact SELECT i.id, w.n, t.ts, o, greatest(o, c) + r1,"
        " least(o, c) - r2, c, v " + _SERIES,
    ),
    "compact, PK fillfactor 100": (
        "CREATE TABLE bench.compact_ff (series_id integer NOT NULL, load_id integer NOT NULL,"
        " ts timestamptz NOT NULL, open float8 NOT NULL, high float8 NOT NULL,"
        " low float8 NOT NULL, close float8 NOT NULL, volume float8,"
        " PRIMARY KEY (series_id, ts) WITH (fillfactor = 100))",
        "INSERT INTO bench.compact_ff SELECT i.id, w.n, t.ts, o, greatest(o, c) + r1,"
        " least(o, c) - r2, c, v " + _SERIES,
    ),
    "compact, unique (series_id, minute int4), per partition": (
        _MINUTE,
        "CREATE TABLE bench.compact_min (series_id integer NOT NULL, load_id integer NOT NULL,"
        " ts timestamptz NOT NULL, open float8 NOT NULL, high float8 NOT NULL,"
        " low float8 NOT NULL, close float8 NOT NULL, volume float8)",
        "CREATE UNIQUE INDEX ON bench.compact_min (series_id, bench.minute_of(ts))",
        "INSERT INTO bench.compact_min SELECT i.id, w.n, t.ts, o, greatest(o, c) + r1,"
        " least(o, c) - r2, c, v " + _SERIES,
    ),
    "compact + loaded_at per row (flags int2, no load id); PK (series_id, ts)": (
        "CREATE TABLE bench.compact_at (series_id integer NOT NULL, flags smallint NOT NULL,"
        " ts timestamptz NOT NULL, loaded_at timestamptz NOT NULL, open float8 NOT NULL,"
        " high float8 NOT NULL, low float8 NOT NULL, close float8 NOT NULL, volume float8,"
        " PRIMARY KEY (series_id, ts))",
        "INSERT INTO bench.compact_at SELECT i.id, 0, t.ts, t.ts + interval '15 minutes', o,"
        " greatest(o, c) + r1, least(o, c) - r2, c, v " + _SERIES,
    ),
}
_TODAY = """
INSERT INTO candleflow.bars
    (instrument_id, timeframe, ts, source, open, high, low, close, volume, run_id)
SELECT i.id, '1m', t.ts, 'provider', o, greatest(o, c) + r1, least(o, c) - r2, c, v,
       'scheduled__' || to_char(date_trunc('hour', t.ts) AT TIME ZONE 'UTC',
                                'YYYY-MM-DD"T"HH24:MI:SS') || '+00:00'
"""


def measure(conn, rows: int, instruments: int) -> dict[str, dict[str, float]]:
    """Bytes per row (heap, indexes, total) of every candidate, ``rows`` bars each."""
    windows = max(1, rows // (instruments * WINDOW))
    params = {"windows": windows, "instruments": instruments, "window": WINDOW}
    n = windows * instruments * WINDOW
    out = {}
    with conn.cursor() as cur:
        cur.execute("CREATE SCHEMA IF NOT EXISTS bench")
        cur.execute(
            "INSERT INTO candleflow.instruments (symbol, exchange, ticker)"
            " SELECT 'ROWS:T' || n, 'ROWS', 'T' || n FROM generate_series(1, %s) AS n"
            " ON CONFLICT DO NOTHING",
            (instruments,),
        )
        for name, statements in CANDIDATES.items():
            if not statements:
                ours = "(SELECT id FROM candleflow.instruments WHERE exchange = 'ROWS') AS i(id)"
                series = _SERIES.replace("generate_series(1, %(instruments)s) AS i(id)", ours)
                cur.execute(_TODAY + series, params)
                table = "candleflow.bars"
            else:
                for statement in statements:
                    cur.execute(statement, params)
                table = statements[-1].split()[2]
            cur.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(*table.split("."))))
            cur.execute(
                "SELECT pg_relation_size(%s::regclass), pg_indexes_size(%s::regclass),"
                " pg_total_relation_size(%s::regclass)",
                (table, table, table),
            )
            heap, index, total = cur.fetchone()
            out[name] = {
                "rows": n,
                "heap_per_row": heap / n,
                "index_per_row": index / n,
                "total_per_row": total / n,
            }
    return out
