"""Shared by the throughput benchmarks (``bench_sync``, ``bench_memory``, ``bench_stack``).

Fresh databases on the embedded server (or ``CANDLEFLOW_DATABASE_URL``'s server), invented
symbol universes (a replay server with ``any_symbol=True`` serves them), child processes
timed from outside (process start included) and results written where ``report.py`` reads
them. Not a benchmark itself: ``run_all.py`` runs only ``bench_*.py``.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

from psycopg2 import sql

from candleflow.db import connection, embedded, migrate

RESULTS = Path(__file__).parent / "results"
BIN = Path(sys.executable).parent


def server_url() -> str:
    """The maintenance database of the benchmark server (started if embedded)."""
    configured = os.environ.get("CANDLEFLOW_DATABASE_URL")
    if configured:
        return connection.admin_url(configured, "postgres")
    embedded.start()
    return embedded.url("postgres")


def fresh_database(name: str, *, migrated: bool = True) -> str:
    """Drop and create database ``name``; returns its URL (migrated unless told not to)."""
    admin = server_url()
    conn = connection.connect(admin, autocommit=True)
    with conn.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    conn.close()
    url = connection.admin_url(admin, name)
    if migrated:
        conn = connection.connect(url)
        migrate.migrate(conn)
        conn.close()
    return url


def drop_database(name: str) -> None:
    conn = connection.connect(server_url(), autocommit=True)
    with conn.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    conn.close()


def universe(n: int) -> list[str]:
    """``n`` invented symbols (a replay server serves them with ``any_symbol=True``): 60%
    XNYS equities, 40% 24x7 crypto pairs."""
    equities = [f"{('NASDAQ', 'NYSE')[i % 2]}:S{i:04d}" for i in range(n * 3 // 5)]
    crypto = [f"BINANCE:C{i:04d}USDT" for i in range(n - len(equities))]
    return equities + crypto


def run(args: list[str], env: dict[str, str], *, timeout: float = 3600) -> tuple[float, str]:
    """Run a child process to completion; (wall seconds, stdout). A failure raises."""
    began = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(
            f"{' '.join(args[:4])} ... failed ({done.returncode}):\n"
            + done.stdout[-3000:]
            + done.stderr[-3000:]
        )
    return wall, done.stdout


def python(code: str, env: dict[str, str], *, timeout: float = 3600) -> tuple[float, dict]:
    """Run ``code`` in a fresh interpreter; it prints one JSON object last. (wall s, object)."""
    wall, out = run([sys.executable, "-c", code], env, timeout=timeout)
    return wall, json.loads(out.strip().splitlines()[-1])


def peak_rss_mib() -> float:
    """This process's peak resident set (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> dict:
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def write(name: str, result: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    result = {"benchmark": name, **result, "machine": machine()}
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2, default=str))
    print(json.dumps(result, indent=2, default=str))


def previous(name: str) -> dict:
    """The scenarios of an earlier ``write(name, ...)`` (without its machine), or {}."""
    path = RESULTS / f"{name}.json"
    if not path.exists():
        return {}
    earlier = json.loads(path.read_text())
    return {k: v for k, v in earlier.items() if k not in ("benchmark", "machine")}
