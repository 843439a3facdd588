"""Benchmark: loading bars into ``candleflow.bars``, ``upsert_bars`` against the alternatives.

Why: a backfill writes millions of bars, and every load must stay one transaction that
rewrites nothing unchanged. This runs, side by side on one fresh database of the embedded
server (or ``CANDLEFLOW_DATABASE_URL``'s server):

- raw append, the machine's limit: ADBC ``adbc_ingest`` from Arrow, and binary COPY, into an
  empty copy of ``bars`` with its primary key and checks (no conflict handling);
- ``upsert_bars`` of the rows into an empty ``bars`` (all inserts), again unchanged (must
  write nothing: ``n_tup_upd`` still, counts all unchanged), and again with 1% changed;
- the usual alternatives: pandas ``to_csv`` + psycopg2 COPY, pyarrow CSV + COPY, pandas
  ``to_sql`` (SQLAlchemy, default and ``method="multi"``) and ``PostgresHook.insert_rows``;
  the slow ones on a sample (rows/s extrapolate linearly: each row costs the same).

Sizes: ``CANDLEFLOW_BENCH_ROWS`` (default 1,000,000), ``CANDLEFLOW_BENCH_SAMPLE_ROWS`` for
``to_sql`` (default 100,000) and ``CANDLEFLOW_BENCH_HOOK_ROWS`` for the hook (default 20,000).
Prints a markdown table and writes ``benchmarks/results/load.json``.

    .venv/bin/python benchmarks/bench_load.py
"""

from __future__ import annotations

import io
import json
import os
import platform
import time
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np
import pandas as pd

from candleflow.db import bars as bar_writer
from candleflow.db import bulk, connection, embedded, migrate

RESULTS = Path(__file__).parent / "results" / "load.json"
DB_NAME = "cf_bench_load"
RAW = "bench_raw"  # a copy of bars with its primary key and checks, without the FK
RAW_FK = "bench_raw_fk"  # bars with a per-row FK to instruments (what 0005 removed)
ROWS = int(os.environ.get("CANDLEFLOW_BENCH_ROWS", "1000000"))
SAMPLE = int(os.environ.get("CANDLEFLOW_BENCH_SAMPLE_ROWS", "100000"))
HOOK_ROWS = int(os.environ.get("CANDLEFLOW_BENCH_HOOK_ROWS", "20000"))
FULL_COLUMNS = ["instrument_id", "timeframe", "source", "ts", "open", "high", "low", "close"]
FULL_COLUMNS += ["volume", "filled", "run_id"]


def synthetic_bars(n: int, seed: int = 7) -> pd.DataFrame:
    """n valid one-minute bars: a random walk with OHLC consistent and microsecond stamps."""
    rng = np.random.default_rng(seed)
    close = 100 + np.cumsum(rng.normal(0, 0.1, n))
    open_ = np.concatenate([[100.0], close[:-1]])
    spread = np.abs(rng.normal(0, 0.05, (2, n)))
    ts = pd.date_range("2020-01-01 00:00:00.000001", periods=n, freq="1min", tz="UTC", unit="us")
    return pd.DataFrame(
        {
            "ts": ts,
            "open": open_,
            "high": np.maximum(open_, close) + spread[0],
            "low": np.minimum(open_, close) - spread[1],
            "close": close,
            "volume": rng.integers(0, 10_000, n).astype("float64"),
        }
    )


def full_frame(bars: pd.DataFrame, instrument_id: int) -> pd.DataFrame:
    """The bars with every column of the table, as a raw append writes them."""
    return bars.assign(
        instrument_id=np.int32(instrument_id),
        timeframe="1m",
        source="provider",
        filled=False,
        run_id="bench",
    )[FULL_COLUMNS]


def setup(server: str) -> str:
    """A fresh migrated database with one instrument and an empty copy of ``bars``."""
    admin = connection.connect(server, autocommit=True)
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        cur.execute(f"CREATE DATABASE {DB_NAME}")
    admin.close()
    url = connection.admin_url(server, DB_NAME)
    conn = connection.connect(url)
    migrate.migrate(conn)
    conn.close()
    with connection.transaction(url) as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO candleflow.instruments (symbol, exchange, ticker)"
            " VALUES ('BENCH:BARS', 'BENCH', 'BARS')"
        )
        for table in (RAW, RAW_FK):  # LIKE copies PK, checks and defaults, not the FK
            cur.execute(f"CREATE TABLE {table} (LIKE candleflow.bars INCLUDING ALL)")
        cur.execute(
            f"ALTER TABLE {RAW_FK} ADD FOREIGN KEY (instrument_id)"
            " REFERENCES candleflow.instruments (id)"
        )
    return url


def reset(url: str) -> None:
    with connection.transaction(url) as conn, conn.cursor() as cur:
        cur.execute(f"TRUNCATE {RAW}, {RAW_FK}, candleflow.bars")
    conn = connection.connect(url, autocommit=True)
    with conn.cursor() as cur:
        cur.execute("CHECKPOINT")  # each method starts without the last one's dirty pages
    conn.close()


def timed(fn, *args) -> float:
    began = time.perf_counter()
    fn(*args)
    return time.perf_counter() - began


def raw_adbc(url: str, frame: pd.DataFrame, table_name: str) -> None:
    import adbc_driver_postgresql.dbapi as adbc
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=False)
    with adbc.connect(url) as conn, conn.cursor() as cur:
        cur.adbc_ingest(table_name, table, mode="append")
        conn.commit()


def raw_copy(url: str, frame: pd.DataFrame, table_name: str) -> None:
    columns = dict.fromkeys(["open", "high", "low", "close", "volume"], "float8")
    columns |= {"ts": "timestamptz", "filled": "bool"}
    constants = {"instrument_id": 1, "timeframe": "1m", "source": "provider", "run_id": "bench"}
    with connection.transaction(url) as conn:
        bulk.copy_frame(conn, table_name, frame, columns, constants)


def csv_copy(url: str, frame: pd.DataFrame, *, arrow: bool) -> None:
    buffer = io.BytesIO()
    if arrow:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        table = pa.Table.from_pandas(frame, preserve_index=False)
        pacsv.write_csv(table, buffer, pacsv.WriteOptions(include_header=False))
    else:
        buffer.write(frame.to_csv(index=False, header=False).encode())
    buffer.seek(0)
    with connection.transaction(url) as conn, conn.cursor() as cur:
        columns = ", ".join(frame.columns)
        cur.copy_expert(f"COPY {RAW} ({columns}) FROM STDIN (FORMAT csv)", buffer)


def sqlalchemy_url(url: str) -> str:
    parts = urlsplit(url)
    host = unquote(parts.hostname or "") or parse_qs(parts.query).get("host", [""])[0]
    user = parts.username or "postgres"
    return f"postgresql+psycopg2://{user}@/{parts.path.lstrip('/')}?host={host}"


def to_sql(url: str, frame: pd.DataFrame, method: str | None) -> None:
    import sqlalchemy

    engine = sqlalchemy.create_engine(sqlalchemy_url(url))
    with engine.begin() as conn:
        frame.to_sql(RAW, conn, if_exists="append", index=False, method=method, chunksize=10_000)
    engine.dispose()


def hook_insert_rows(url: str, frame: pd.DataFrame) -> None:
    os.environ["AIRFLOW_CONN_CF_BENCH"] = url
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    records = list(frame.itertuples(index=False, name=None))
    PostgresHook(postgres_conn_id="cf_bench").insert_rows(RAW, records, list(frame.columns))


def upsert_run(url: str, instrument_id: int, bars: pd.DataFrame, run_id: str):
    with connection.transaction(url) as conn:
        bar_writer.lock_series(conn, instrument_id, "1m")
        return bar_writer.upsert_bars(conn, instrument_id, "1m", bars, run_id=run_id)


def n_tup_upd(url: str) -> int:
    conn = connection.connect(url, autocommit=True)
    with conn.cursor() as cur:
        cur.execute("SELECT pg_stat_force_next_flush()")
        cur.execute(
            "SELECT n_tup_upd FROM pg_stat_user_tables WHERE relid = 'candleflow.bars'::regclass"
        )
        (value,) = cur.fetchone()
    conn.close()
    return value


def upsert_scenarios(url: str, bars: pd.DataFrame, record, label: str) -> None:
    """All new, then the same rows unchanged (nothing may be rewritten), then 1% changed."""
    reset(url)
    began = time.perf_counter()
    fresh = upsert_run(url, 1, bars, "bench-1")
    seconds = time.perf_counter() - began
    record(f"upsert_bars (all new){label}", ROWS, seconds, counts=fresh._asdict())
    before = n_tup_upd(url)
    began = time.perf_counter()
    again = upsert_run(url, 1, bars, "bench-2")
    seconds = time.perf_counter() - began
    delta = n_tup_upd(url) - before
    name = f"upsert_bars (re-load, unchanged){label}"
    record(name, ROWS, seconds, counts=again._asdict(), n_tup_upd_delta=delta)
    changed = bars.copy()
    changed.loc[changed.index[::100], "close"] = changed["low"]
    began = time.perf_counter()
    some = upsert_run(url, 1, changed, "bench-3")
    seconds = time.perf_counter() - began
    record(f"upsert_bars (re-load, 1% changed){label}", ROWS, seconds, counts=some._asdict())


def run(url: str) -> list[dict]:
    bars = synthetic_bars(ROWS)
    full = full_frame(bars, 1)
    results: list[dict] = []

    def record(name: str, rows: int, seconds: float, **extra) -> None:
        results.append(
            {
                "method": name,
                "rows": rows,
                "seconds": seconds,
                "rows_per_s": rows / seconds,
                **extra,
            }
        )
        print(f"  {name}: {rows} rows in {seconds:.2f}s", flush=True)

    for table, label in ((RAW, "PK only"), (RAW_FK, "PK + FK")):
        for name, fn in (("ADBC adbc_ingest", raw_adbc), ("binary COPY", raw_copy)):
            reset(url)
            record(f"raw append ({label}): {name}", ROWS, timed(fn, url, full, table))
    upsert_scenarios(url, bars, record, "")
    for name, arrow in (("pandas to_csv + COPY", False), ("pyarrow write_csv + COPY", True)):
        reset(url)
        record(name, ROWS, timed(lambda f, a=arrow: csv_copy(url, f, arrow=a), full))
    sample = full.iloc[:SAMPLE]
    for name, method in (
        ("pandas to_sql (default)", None),
        ('pandas to_sql (method="multi")', "multi"),
    ):
        reset(url)
        record(name, len(sample), timed(to_sql, url, sample, method))
    reset(url)
    record(
        "PostgresHook.insert_rows", HOOK_ROWS, timed(hook_insert_rows, url, full.iloc[:HOOK_ROWS])
    )
    return results


def warm_imports() -> None:
    """Import every client before timing, so no method is charged its import time."""
    import adbc_driver_postgresql.dbapi  # noqa: F401
    import pyarrow.csv  # noqa: F401
    import sqlalchemy  # noqa: F401
    from airflow.providers.postgres.hooks.postgres import PostgresHook  # noqa: F401


def summarise(results: list[dict]) -> dict:
    """Ratios against the raw appends, and each target.

    ``bars`` as migrated has its primary key and no per-row foreign key (migration 0005), so
    the identical table is the PK-only copy; the PK + FK append shows what the FK would cost.
    """
    rate = {r["method"]: r["rows_per_s"] for r in results}
    pk_only = max(v for k, v in rate.items() if k.startswith("raw append (PK only)"))
    identical = max(v for k, v in rate.items() if k.startswith("raw append (PK + FK"))
    for r in results:
        r["vs_raw_pk_only"] = r["rows_per_s"] / pk_only
        r["vs_raw_identical"] = r["rows_per_s"] / identical
    best_rival = max(rate["pandas to_csv + COPY"], *(v for k, v in rate.items() if "to_sql" in k))
    hook = rate["PostgresHook.insert_rows"]
    targets = {}
    for label, limit in (("", pk_only),):
        fresh = rate[f"upsert_bars (all new){label}"]
        reload = rate[f"upsert_bars (re-load, unchanged){label}"]
        unchanged = next(
            r for r in results if r["method"] == f"upsert_bars (re-load, unchanged){label}"
        )
        scenario = "bars as migrated (PK, no per-row FK)"
        targets[scenario] = {
            "upsert / raw append of the same table (>= 0.5)": fresh / limit,
            "upsert / fastest of to_sql, to_csv + COPY (>= 3)": fresh / best_rival,
            "upsert / PostgresHook.insert_rows (>= 50)": fresh / hook,
            "re-load / raw append, PK only (>= 0.5)": reload / pk_only,
            "re-load rewrites nothing": unchanged["n_tup_upd_delta"] == 0
            and unchanged["counts"] == {"inserted": 0, "updated": 0, "unchanged": ROWS},
        }
    return targets


def main() -> None:
    server = os.environ.get("CANDLEFLOW_DATABASE_URL")
    if not server:
        embedded.start()
        server = embedded.url("postgres")
    warm_imports()
    url = setup(connection.admin_url(server, "postgres"))
    try:
        results = run(url)
    finally:
        admin = connection.connect(connection.admin_url(server, "postgres"), autocommit=True)
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        admin.close()
    targets = summarise(results)
    print("\n| method | rows | seconds | rows/s | vs raw (PK only) | vs raw (PK + FK) |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['method']} | {r['rows']:,} | {r['seconds']:.2f} | {r['rows_per_s']:,.0f} |"
            f" {r['vs_raw_pk_only']:.2f} | {r['vs_raw_identical']:.2f} |"
        )
    for scenario, checks in targets.items():
        print(f"\n{scenario}:")
        for target, value in checks.items():
            shown = (
                f"{value:.2f}x" if not isinstance(value, bool) else ("PASS" if value else "FAIL")
            )
            print(f"- {shown}: {target}")
    RESULTS.parent.mkdir(exist_ok=True)
    document = {
        "benchmark": "load",
        "rows": ROWS,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "targets": targets,
        "results": results,
    }
    RESULTS.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
