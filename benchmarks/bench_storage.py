"""Benchmark: bytes on disk per bar and per tick in the real schema, and a projection.

Why: docs/scaling.md sizes the warehouse for 10,000 instruments x 10 years of 1m bars,
and that plan must rest on this schema's real row size (heap tuple headers, the text
columns ``timeframe``/``source``/``run_id``, the primary-key btree), not on a guess.

On a fresh migrated database of the embedded server (or ``CANDLEFLOW_DATABASE_URL``'s
server) this loads ``N`` 1m bars and ``N`` ticks for ``CANDLEFLOW_BENCH_INSTRUMENTS``
instruments in the order the DAGs write them (15-minute windows, one instrument at a time,
so ``ts`` rises through the table), runs ``VACUUM ANALYZE`` and reads
``pg_relation_size``/``pg_indexes_size``/``pg_total_relation_size`` per row. Variants:

- ``bars`` and ``ticks`` as migrated (heap + primary-key btree);
- ``bars + BRIN(ts)``: the same table with a BRIN index on ``ts`` added (what time-range
  scans over a partition would use), to show what BRIN costs;
- ``bars, PK rebuilt``: after ``REINDEX``, what a cold partition's packed btree costs;
- ``ticks, BRIN only``: a copy of ``ticks`` whose only index is BRIN ``(ts)``, the
  append-only layout for tick partitions that are never upserted.

``CANDLEFLOW_BENCH_ROWS`` (default 1,000,000) rows each. Writes
``benchmarks/results/storage.json`` and prints a markdown row per variant plus the
projection.

    .venv/bin/python benchmarks/bench_storage.py
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

from psycopg2 import sql

from candleflow.db import connection, embedded, migrate

RESULTS = Path(__file__).parent / "results" / "storage.json"
DB_NAME = "cf_bench_storage"
INSTRUMENTS = 10_000
YEARS = 10
BARS_PER_YEAR = {"XNYS regular hours": 98_280, "24x7": 525_600}  # 252 x 390; 365 x 1440
WINDOW_MINUTES = 15  # ohlcv_1m loads one 15-minute window per run and instrument

BARS_SQL = """
INSERT INTO candleflow.bars
    (instrument_id, timeframe, ts, source, open, high, low, close, volume, run_id)
SELECT i.id, '1m', t.ts, 'provider', o, greatest(o, c) + r1, least(o, c) - r2, c, v,
       'scheduled__' || to_char(date_trunc('hour', t.ts) AT TIME ZONE 'UTC',
                                'YYYY-MM-DD"T"HH24:MI:SS') || '+00:00'
FROM generate_series(0, %(windows)s - 1) AS w(n)
CROSS JOIN candleflow.instruments AS i
CROSS JOIN LATERAL (
    SELECT timestamptz '2024-01-01 00:00+00' + make_interval(mins => w.n * %(window)s + k) AS ts,
           100 + random() AS o, 100 + random() AS c, random() / 10 AS r1,
           random() / 10 AS r2, round((random() * 10000)::numeric, 2)::float8 AS v
    FROM generate_series(0, %(window)s - 1) AS k
) AS t
ORDER BY w.n, i.id, t.ts
"""

TICKS_SQL = """
INSERT INTO {table} (instrument_id, ts, seq, price, size, day_volume, bid, ask, source, run_id)
SELECT i.id,
       timestamptz '2024-01-01 00:00+00' + make_interval(secs => n + random()),
       0, p, round((random() * 100)::numeric, 2)::float8, n * 10.0, p - 0.01, p + 0.01,
       'provider', 'ticks__2024-01-01T00:00:00+00:00'
FROM generate_series(0, %(per)s - 1) AS g(n)
CROSS JOIN candleflow.instruments AS i
CROSS JOIN LATERAL (SELECT 100 + random() AS p) AS q
ORDER BY n, i.id
"""


def _server() -> str:
    server = os.environ.get("CANDLEFLOW_DATABASE_URL")
    if not server:
        embedded.start()
        server = embedded.url("postgres")
    return connection.admin_url(server, "postgres")


def setup(server: str, instruments: int) -> str:
    """A fresh migrated database holding ``instruments`` instruments."""
    admin = connection.connect(server, autocommit=True)
    with admin.cursor() as cur:
        cur.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DB_NAME))
        )
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB_NAME)))
    admin.close()
    url = connection.admin_url(server, DB_NAME)
    conn = connection.connect(url)
    migrate.migrate(conn)
    conn.close()
    with connection.transaction(url) as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO candleflow.instruments (symbol, exchange, ticker)"
            " SELECT 'BENCH:T' || n, 'BENCH', 'T' || n FROM generate_series(1, %s) AS n",
            (instruments,),
        )
    return url


def sizes(cur, table: str, rows: int) -> dict[str, float]:
    """Heap, index and total bytes of ``table`` (incl. TOAST), and each per row."""
    # summed over the partitions when partitioned (bars and ticks: migration 0022; the
    # parent itself has no storage), else the table alone
    query = sql.SQL(
        "SELECT sum(pg_relation_size(r)), sum(pg_indexes_size(r)),"
        " sum(pg_total_relation_size(r)), (SELECT count(*) FROM {})"
        " FROM (SELECT relid FROM pg_partition_tree(%s::regclass) UNION SELECT %s::regclass)"
        " AS t(r)"
    ).format(sql.Identifier(*table.split(".")))
    cur.execute(query, (table, table))
    heap, indexes, total, count = cur.fetchone()
    assert count == rows, (table, count, rows)
    return {
        "rows": rows,
        "heap_bytes": heap,
        "index_bytes": indexes,
        "total_bytes": total,
        "heap_per_row": heap / rows,
        "index_per_row": indexes / rows,
        "total_per_row": total / rows,
    }


def measure(url: str, rows: int, instruments: int) -> dict[str, dict[str, float]]:
    windows = max(1, rows // (instruments * WINDOW_MINUTES))
    n_bars = windows * instruments * WINDOW_MINUTES
    per = max(1, rows // instruments)
    n_ticks = per * instruments
    out: dict[str, dict[str, float]] = {}
    conn = connection.connect(url, autocommit=True)
    try:
        with conn.cursor() as cur:
            started = time.perf_counter()
            cur.execute(BARS_SQL, {"windows": windows, "window": WINDOW_MINUTES})
            cur.execute(
                sql.SQL(TICKS_SQL).format(table=sql.Identifier("candleflow", "ticks")),
                {"per": per},
            )
            cur.execute(
                "CREATE TABLE candleflow.ticks_brin (LIKE candleflow.ticks"
                " INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
            )
            cur.execute(
                sql.SQL(TICKS_SQL).format(table=sql.Identifier("candleflow", "ticks_brin")),
                {"per": per},
            )
            cur.execute("CREATE INDEX ticks_brin_ts ON candleflow.ticks_brin USING brin (ts)")
            cur.execute("VACUUM ANALYZE candleflow.bars, candleflow.ticks, candleflow.ticks_brin")
            out["bars"] = sizes(cur, "candleflow.bars", n_bars)
            out["ticks"] = sizes(cur, "candleflow.ticks", n_ticks)
            out["ticks, BRIN only"] = sizes(cur, "candleflow.ticks_brin", n_ticks)
            cur.execute("CREATE INDEX bars_brin_ts ON candleflow.bars USING brin (ts)")
            out["bars + BRIN(ts)"] = sizes(cur, "candleflow.bars", n_bars)
            cur.execute("SELECT pg_relation_size('candleflow.bars_brin_ts')")
            out["bars + BRIN(ts)"]["brin_bytes"] = cur.fetchone()[0]
            # Loads interleave instruments, so the PK btree splits pages as it grows; a
            # rebuilt (e.g. cold partition) index is packed to its fillfactor.
            cur.execute("DROP INDEX candleflow.bars_brin_ts")
            cur.execute("REINDEX TABLE candleflow.bars")
            out["bars, PK rebuilt (REINDEX)"] = sizes(cur, "candleflow.bars", n_bars)
            out["_elapsed_s"] = {"load_and_measure": time.perf_counter() - started}
    finally:
        conn.close()
    return out


def projection(bytes_per_bar: float) -> dict[str, dict[str, float]]:
    """10,000 instruments x 10 years of 1m bars at the measured bytes per bar."""
    result = {}
    for calendar, per_year in BARS_PER_YEAR.items():
        bars = INSTRUMENTS * YEARS * per_year
        result[calendar] = {
            "bars": bars,
            "bytes": bars * bytes_per_bar,
            "tib": bars * bytes_per_bar / 2**40,
        }
    return result


def main() -> None:
    rows = int(os.environ.get("CANDLEFLOW_BENCH_ROWS", "1000000"))
    instruments = int(os.environ.get("CANDLEFLOW_BENCH_INSTRUMENTS", "100"))
    server = _server()
    url = setup(server, instruments)
    try:
        result = measure(url, rows, instruments)
    finally:
        admin = connection.connect(server, autocommit=True)
        with admin.cursor() as cur:
            cur.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DB_NAME))
            )
        admin.close()
    elapsed = result.pop("_elapsed_s")
    report = {
        "machine": f"{platform.machine()} {os.cpu_count()} cpus, {platform.python_version()}",
        "server": connection.describe(server),
        "instruments": instruments,
        "elapsed_s": round(elapsed["load_and_measure"], 1),
        "variants": result,
        "projection_1m_bars": projection(result["bars"]["total_per_row"]),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print("| variant | rows | heap B/row | index B/row | total B/row |")
    print("|---|---:|---:|---:|---:|")
    for name, s in result.items():
        print(
            f"| {name} | {s['rows']:,} | {s['heap_per_row']:.1f} | {s['index_per_row']:.1f}"
            f" | {s['total_per_row']:.1f} |"
        )
    for calendar, p in report["projection_1m_bars"].items():
        print(f"| projection, 1m bars, {calendar} | {p['bars']:,} | | | {p['tib']:.2f} TiB |")


if __name__ == "__main__":
    main()
