"""Benchmark: reading bars into pandas with ``candleflow.query.bars`` against raw reads.

Why: notebooks and services read long histories (a year of 1m bars is ~100k rows per
symbol; a backtest universe, millions), and the query layer must not be the slow part.
Target: ``query.bars(..., output="pandas")`` of 1M bars takes at most 1.5x the fastest raw
read of the same rows measured in the same run, which is ADBC ``fetch_arrow_table`` of the
plain SELECT (Arrow, no pandas). Also timed: the same raw read plus ``to_pandas``,
``query.bars`` to Arrow and polars, and ``pandas.read_sql`` over psycopg2 (the usual way).

One fresh database on the embedded server (or ``CANDLEFLOW_DATABASE_URL``'s server), one
instrument, ``CANDLEFLOW_BENCH_ROWS`` 1m bars (default 1,000,000, 1% NULL volume) loaded
with ``upsert_bars``. Each method runs ``CANDLEFLOW_BENCH_REPEAT`` times (default 5),
round-robin, after a warm-up read; the best time counts (the table is in shared buffers for
all of them).
Prints a markdown table and writes ``benchmarks/results/query.json``.

    .venv/bin/python benchmarks/bench_query.py
"""

from __future__ import annotations

import json
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from candleflow import query
from candleflow.db import bars as bar_writer
from candleflow.db import connection, embedded, migrate

READ_SQL = "pandas.read_sql (SQLAlchemy + psycopg2)"
RESULTS = Path(__file__).parent / "results" / "query.json"
DB_NAME = "cf_bench_query"
ROWS = int(os.environ.get("CANDLEFLOW_BENCH_ROWS", "1000000"))
REPEAT = int(os.environ.get("CANDLEFLOW_BENCH_REPEAT", "5"))
SYMBOL = "BENCH:QUERY"
START = pd.Timestamp("2020-01-01", tz="UTC")
RAW_SQL = (
    "SELECT ts, open, high, low, close, volume FROM candleflow.bars"
    " WHERE instrument_id = $1 AND timeframe = '1m' AND source = 'provider'"
    " AND ts >= $2 AND ts < $3 ORDER BY ts"
)


def synthetic_bars(n: int, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 + np.cumsum(rng.normal(0, 0.1, n))
    open_ = np.concatenate([[100.0], close[:-1]])
    spread = np.abs(rng.normal(0, 0.05, (2, n)))
    volume = rng.integers(0, 10_000, n).astype("float64")
    volume[rng.random(n) < 0.01] = np.nan
    return pd.DataFrame(
        {
            "ts": pd.date_range(START, periods=n, freq="1min", unit="us"),
            "open": open_,
            "high": np.maximum(open_, close) + spread[0],
            "low": np.minimum(open_, close) - spread[1],
            "close": close,
            "volume": volume,
        }
    )


def setup(server: str) -> str:
    admin = connection.connect(server, autocommit=True)
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        cur.execute(f"CREATE DATABASE {DB_NAME}")
    admin.close()
    url = connection.admin_url(server, DB_NAME)
    conn = connection.connect(url)
    migrate.migrate(conn)
    with conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO candleflow.instruments (symbol, exchange, ticker)"
            " VALUES (%s, 'BENCH', 'QUERY') RETURNING id",
            (SYMBOL,),
        )
        (instrument_id,) = cur.fetchone()
        bar_writer.upsert_bars(conn, instrument_id, "1m", synthetic_bars(ROWS), run_id="bench")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE candleflow.bars")
    conn.close()
    return url


def best_times(methods: dict, slow: set[str]) -> dict[str, tuple[float, int]]:
    """Best time and row count of each method, run round-robin.

    Why round-robin: the machine is shared, and its load drifts over a run; interleaving
    gives every method the same conditions, so the ratios stay fair even when the absolute
    times move. ``slow`` methods run only in the first two rounds.
    """
    for fn in methods.values():
        fn()  # warm-up: shared buffers, catalog caches, imports
    times: dict[str, list[float]] = {name: [] for name in methods}
    rows: dict[str, int] = {}
    for round_ in range(REPEAT):
        for name, fn in methods.items():
            if name in slow and round_ >= 2:
                continue
            began = time.perf_counter()
            rows[name] = len(fn())
            times[name].append(time.perf_counter() - began)
    return {name: (min(values), rows[name]) for name, values in times.items()}


def run(url: str) -> list[dict]:
    import adbc_driver_postgresql.dbapi as adbc
    import sqlalchemy

    end = START + pd.Timedelta(minutes=ROWS)
    window = (START.to_pydatetime(), end.to_pydatetime())

    def raw_arrow(to_pandas: bool = False):
        with adbc.connect(url) as conn, conn.cursor() as cur:
            cur.execute(RAW_SQL, parameters=(1, *window))
            table = cur.fetch_arrow_table()
        return table.to_pandas() if to_pandas else table

    engine = sqlalchemy.create_engine(
        "postgresql+psycopg2://", creator=lambda: connection.connect(url)
    )

    def read_sql():
        with engine.connect() as conn, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pd.read_sql(
                sqlalchemy.text(
                    RAW_SQL.replace("$1", ":i").replace("$2", ":a").replace("$3", ":b")
                ),
                conn,
                params={"i": 1, "a": window[0], "b": window[1]},
            )

    methods = {
        "raw: ADBC fetch_arrow_table (Arrow)": raw_arrow,
        "raw: ADBC fetch_arrow_table + to_pandas": lambda: raw_arrow(True),
        "query.bars(output='pandas')": lambda: query.bars(SYMBOL, "1m", *window, url=url),
        "query.bars(output='arrow')": lambda: query.bars(
            SYMBOL, "1m", *window, url=url, output="arrow"
        ),
        "query.bars(output='polars')": lambda: query.bars(
            SYMBOL, "1m", *window, url=url, output="polars"
        ),
        READ_SQL: read_sql,
    }
    results = []
    for name, (seconds, rows) in best_times(methods, {READ_SQL}).items():
        results.append(
            {"method": name, "rows": rows, "seconds": seconds, "rows_per_s": rows / seconds}
        )
        print(f"  {name}: {rows} rows in {seconds:.3f}s", flush=True)
    engine.dispose()
    fastest = min(r["seconds"] for r in results if r["method"].startswith("raw:"))
    for item in results:
        item["x_fastest_raw"] = item["seconds"] / fastest
    return results


def main() -> None:
    configured = os.environ.get("CANDLEFLOW_DATABASE_URL")
    if not configured:
        embedded.start()
    server = connection.admin_url(configured or embedded.url("postgres"), "postgres")
    print(f"loading {ROWS} bars ...", flush=True)
    url = setup(server)
    try:
        results = run(url)
    finally:
        admin = connection.connect(server, autocommit=True)
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        admin.close()
    ratio = next(r for r in results if r["method"] == "query.bars(output='pandas')")
    summary = {
        "rows": ROWS,
        "repeat": REPEAT,
        "python": platform.python_version(),
        "pandas": pd.__version__,
        "cpu_count": os.cpu_count(),
        "query_pandas_vs_fastest_raw": ratio["x_fastest_raw"],
        "target": 1.5,
        "results": results,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n")
    print("\n| method | rows | seconds | rows/s | x fastest raw |\n|---|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['method']} | {r['rows']:,} | {r['seconds']:.3f} | {r['rows_per_s']:,.0f}"
            f" | {r['x_fastest_raw']:.2f} |"
        )
    verdict = "meets" if ratio["x_fastest_raw"] <= 1.5 else "MISSES"
    print(
        f"\nquery.bars to pandas: {ratio['x_fastest_raw']:.2f}x the fastest raw read"
        f" ({verdict} the 1.5x target)"
    )


if __name__ == "__main__":
    main()
