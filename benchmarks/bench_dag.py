"""`airflow dags test ohlcv_1h` for 20 instruments and one interval: wall time and overhead.

The replay server is the provider and the embedded PostgreSQL the warehouse and metadata
database (fresh databases, dropped afterwards). The tasks' own work is the sum of the
sync durations recorded in ``load_audit``; ``dags test`` runs tasks one after another, so
the orchestration overhead is the wall time minus that sum (DAG parsing, Airflow's
process start-up, task start-up and state bookkeeping).

Run: ``python benchmarks/bench_dag.py``; writes ``benchmarks/results/dag.json``.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from candleflow.db import connection, embedded, migrate
from candleflow.stack import env as stack_env
from candleflow.testing import ReplayServer

RESULTS = Path(__file__).parent / "results"
SYMBOLS = [f"BINANCE:COIN{i:02d}USDT" for i in range(10)] + [
    "NASDAQ:AAPL",
    "NASDAQ:MSFT",
    "NASDAQ:NVDA",
    "NASDAQ:AMZN",
    "NASDAQ:GOOG",
    "NYSE:IBM",
    "NYSE:KO",
    "NYSE:JPM",
    "AMEX:SPY",
    "SP:SPX",
]
AIRFLOW = str(Path(sys.executable).with_name("airflow"))


def _database(admin: str, name: str) -> str:
    conn = connection.connect(admin, autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return connection.admin_url(admin, name)


def main() -> dict:
    admin = (
        embedded.url("postgres")
        if not os.environ.get("CANDLEFLOW_DATABASE_URL")
        else connection.admin_url(os.environ["CANDLEFLOW_DATABASE_URL"], "postgres")
    )
    embedded.start()
    warehouse = _database(admin, "cf_bench_dag_wh")
    conn = connection.connect(warehouse)
    migrate.migrate(conn)
    conn.close()
    metadata = _database(admin, "cf_bench_dag_meta")
    home = Path(tempfile.mkdtemp(prefix="cf-bench-dag-"))
    watchlist = home / "watchlist.toml"
    watchlist.write_text(
        f'provider = "tradingview"\nsymbols = {json.dumps(SYMBOLS)}\n[timeframes.1h]\n'
    )
    env = stack_env.airflow_env()
    env.pop("AIRFLOW_CONN_CANDLEFLOW_WAREHOUSE", None)
    env.update(
        AIRFLOW_HOME=str(home),
        CANDLEFLOW_DATABASE_URL=warehouse,
        CANDLEFLOW_WATCHLIST=str(watchlist),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=stack_env.sqlalchemy_url(metadata),
    )
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True)
    try:
        with ReplayServer(seed=1, any_symbol=True) as srv:  # invented BINANCE:COIN00USDT, ...
            env["CANDLEFLOW_TRADINGVIEW_URL"] = srv.url
            started = time.perf_counter()
            done = subprocess.run(
                [AIRFLOW, "dags", "test", "ohlcv_1h", "2024-03-05T16:00:00+00:00"],
                env=env,
                capture_output=True,
                text=True,
            )
            wall = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(done.stdout[-3000:] + done.stderr[-3000:])
        conn = connection.connect(warehouse)
        with conn.cursor() as cur:
            cur.execute(
                "SELECT count(*), sum(duration_s), sum(rows_inserted),"
                " count(*) FILTER (WHERE outcome = 'success') FROM candleflow.load_audit"
            )
            loads, work, inserted, ok = cur.fetchone()
        conn.close()
    finally:
        for name in ("cf_bench_dag_wh", "cf_bench_dag_meta"):
            c = connection.connect(admin, autocommit=True)
            with c.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            c.close()
    result = {
        "benchmark": "dag",
        "instruments": len(SYMBOLS),
        "loads": loads,
        "successful": ok,
        "bars_inserted": inserted,
        "wall_s": round(wall, 2),
        "tasks_work_s": round(work, 2),
        "overhead_s": round(wall - work, 2),
        "overhead_per_task_s": round((wall - work) / (len(SYMBOLS) + 1), 2),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "dag.json").write_text(json.dumps(result, indent=2))
    print("| instruments | wall s | tasks' work s | overhead s | overhead per task s |")
    print("|---|---|---|---|---|")
    print(
        f"| {len(SYMBOLS)} | {result['wall_s']} | {result['tasks_work_s']} |"
        f" {result['overhead_s']} | {result['overhead_per_task_s']} |"
    )
    return result


if __name__ == "__main__":
    main()
