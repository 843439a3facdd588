"""Benchmark: latency of ``GET /api/v1/bars`` for a year of 1h bars under 20 concurrent clients.

Why: the chart page and BI notebooks ask for a year of hourly bars at a time, and the API
checks an Airflow token (a JWT signature and a revocation lookup in the metadata database)
on every request. Target: p99 < 100 ms on loopback.

Setup: a fresh warehouse database (``cf_bench_api``) on the embedded server (or
``CANDLEFLOW_DATABASE_URL``'s) with one year of 1h bars for a 24x7 symbol (8,760 bars) and a
session symbol (weekdays, 7 bars a day: ~1,820), a migrated Airflow metadata database
(``cf_bench_airflow``), and the app under uvicorn in a subprocess on a free loopback port
(``CANDLEFLOW_BENCH_API_WORKERS`` workers, default 1). Clients are threads with one
keep-alive ``httpx.Client`` each; a request's latency is send to last body byte.
Bounded: ``CANDLEFLOW_BENCH_API_REQUESTS`` per client (default 15) and a 180 s deadline.
Clients send plain requests (no ``If-None-Match``): ``rows`` is the cost of a full answer.
One extra run, reported apart under ``rows_if_none_match`` (not in ``rows``, which
``report.py`` reads), has every client revalidate with the ETag it got, i.e. 304s.
``load_average_1m`` is sampled just before the timed runs: the 2 cores are shared.
Prints a markdown table, writes ``benchmarks/results/api.json``.

    .venv/bin/python benchmarks/bench_api.py
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from candleflow.db import connection, embedded, migrate
from candleflow.stack import env as stack_env

RESULTS = Path(__file__).parent / "results" / "api.json"
CLIENTS = int(os.environ.get("CANDLEFLOW_BENCH_API_CLIENTS", "20"))
REQUESTS = int(os.environ.get("CANDLEFLOW_BENCH_API_REQUESTS", "15"))
WORKERS = int(os.environ.get("CANDLEFLOW_BENCH_API_WORKERS", "1"))
SERVER_LOG = Path(__file__).parent / "results" / "api_server.log"
DEADLINE_S = 180.0
YEAR = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
SERIES = {"BINANCE:BTCUSDT": "24x7", "NASDAQ:AAPL": "0930-1600"}


def _recreate(server: str, name: str) -> str:
    from psycopg2 import sql

    conn = connection.connect(server, autocommit=True)
    with conn.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    conn.close()
    return connection.admin_url(server, name)


def _hours(session: str) -> list[dt.datetime]:
    hours = [YEAR + dt.timedelta(hours=h) for h in range(365 * 24)]
    if session == "24x7":
        return hours
    return [ts for ts in hours if ts.weekday() < 5 and 14 <= ts.hour < 21]


def warehouse(server: str) -> tuple[str, dict[str, int]]:
    """The bench warehouse with its two series; returns its URL and bars per symbol."""
    from psycopg2.extras import execute_values

    url = _recreate(server, "cf_bench_api")
    conn = connection.connect(url)
    migrate.migrate(conn)
    counts = {}
    with conn, conn.cursor() as cur:
        for symbol, session in SERIES.items():
            exchange, ticker = symbol.split(":")
            cur.execute(
                "INSERT INTO candleflow.instruments (symbol, exchange, ticker, session)"
                " VALUES (%s, %s, %s, %s) RETURNING id",
                (symbol, exchange, ticker, session),
            )
            iid = cur.fetchone()[0]
            rows = [
                (iid, "1h", ts, 100 + i % 7, 108, 95, 101, 1000.0)
                for i, ts in enumerate(_hours(session))
            ]
            execute_values(
                cur,
                "INSERT INTO candleflow.bars (instrument_id, timeframe, ts,"
                " open, high, low, close, volume) VALUES %s",
                rows,
                page_size=5000,
            )
            counts[symbol] = len(rows)
    conn.close()
    return url, counts


def airflow_metadata(server: str) -> dict[str, str]:
    """Env for a migrated Airflow metadata DB with this checkout's JWT secret."""
    env = stack_env.airflow_env()
    meta = _recreate(server, "cf_bench_airflow")
    env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = stack_env.sqlalchemy_url(meta)
    airflow = str(Path(sys.executable).with_name("airflow"))
    done = subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"airflow db migrate failed:\n{done.stderr[-2000:]}")
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _client(base: str, token: str, path: str, n: int, deadline: float, etag: str | None):
    latencies = []
    headers = {"Authorization": f"Bearer {token}"}
    if etag:
        headers["If-None-Match"] = etag
    with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
        for _ in range(n):
            if time.monotonic() > deadline:
                break
            began = time.perf_counter()
            response = http.get(path)
            latencies.append(time.perf_counter() - began)
            if response.status_code != (304 if etag else 200):  # raise_for_status passes 3xx
                raise RuntimeError(f"{path}: HTTP {response.status_code} {response.text[:200]}")
    return latencies


def run(
    base: str, token: str, symbol: str, expected: int, clients: int, *, conditional: bool = False
) -> dict:
    path = f"/api/v1/bars/{symbol}?timeframe=1h&start=2023-01-01&end=2024-01-01&limit=10000"
    # The first request imports Airflow (the token check) and warms the caches: not timed.
    first = httpx.get(base + path, headers={"Authorization": f"Bearer {token}"}, timeout=120)
    body = first.json()
    assert body["count"] == expected and body["next"] is None, body.get("detail")
    etag = first.headers["etag"] if conditional else None
    deadline = time.monotonic() + DEADLINE_S
    began = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        futures = [
            pool.submit(_client, base, token, path, REQUESTS, deadline, etag)
            for _ in range(clients)
        ]
        samples = sorted(x for f in futures for x in f.result())
    wall = time.perf_counter() - began
    ms = [x * 1000 for x in samples]
    return {
        "symbol": symbol,
        "bars": expected,
        "clients": clients,
        "requests": len(ms),
        "p50_ms": round(statistics.median(ms), 1),
        "p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 1),
        "max_ms": round(ms[-1], 1),
        "req_per_s": round(len(ms) / wall, 1),
        "mb_per_response": 0.0 if conditional else round(len(first.content) / 1e6, 2),
    }


def breakdown(url: str, token: str, symbol: str, n: int = 10) -> dict[str, float]:
    """Where one request's time goes, each part alone in this process (median ms of n)."""
    import asyncio

    import adbc_driver_postgresql.dbapi as adbc

    from candleflow import query
    from candleflow.api.auth import auth_manager
    from candleflow.api.encode import bars_json

    os.environ["CANDLEFLOW_DATABASE_URL"] = url
    start, end = dt.datetime(2023, 1, 1, tzinfo=dt.UTC), dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    table = query.bars([symbol], "1h", start, end, output="arrow")
    parts = {
        "auth_token_check": lambda: asyncio.run(auth_manager().get_user_from_token(token)),
        "query_bars_pooled_arrow": lambda: query.bars([symbol], "1h", start, end, output="arrow"),
        "adbc_connect_alone": lambda: adbc.connect(query._read_only_url(url)).close(),
        "json_encode": lambda: bars_json(table),
    }
    out = {}
    for name, call in parts.items():
        call()
        times = []
        for _ in range(n):
            began = time.perf_counter()
            call()
            times.append((time.perf_counter() - began) * 1000)
        out[name] = round(statistics.median(times), 1)
    return out


def main() -> None:
    server = os.environ.get("CANDLEFLOW_DATABASE_URL")
    if not server:
        embedded.start()
        server = embedded.url("postgres")
    server = connection.admin_url(server, "postgres")
    load_before = round(os.getloadavg()[0], 2)
    load_at_runs = load_before
    url, counts = warehouse(server)
    env = airflow_metadata(server)
    env["CANDLEFLOW_DATABASE_URL"] = url
    os.environ.update(
        {
            k: env[k]
            for k in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__API_AUTH__JWT_SECRET")
        }
    )
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    from candleflow.api.auth import auth_manager

    token = auth_manager().generate_jwt(SimpleAuthManagerUser(username="admin", role="admin"))
    port = _free_port()
    SERVER_LOG.parent.mkdir(exist_ok=True)
    log = SERVER_LOG.open("w")  # the server's per-request log lines, out of the table's way
    command = [sys.executable, "-m", "uvicorn", "candleflow.api.app:create_app", "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    command += ["--workers", str(WORKERS)]
    server_proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(base + "/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        load_at_runs = round(os.getloadavg()[0], 2)
        rows = [
            run(base, token, symbol, n, c) for symbol, n in counts.items() for c in (1, CLIENTS)
        ]
        btc = "BINANCE:BTCUSDT"
        revalidated = [run(base, token, btc, counts[btc], CLIENTS, conditional=True)]
    finally:
        server_proc.terminate()
        server_proc.wait(timeout=30)
        log.close()
    import logging

    logging.disable(logging.INFO)  # query.bars logs a line per call
    parts = breakdown(url, token, "BINANCE:BTCUSDT")
    result = {
        "benchmark": "api_bars_1y_1h",
        "breakdown_ms_8760_bars": parts,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "workers": WORKERS,
        "load_average_1m": load_at_runs,
        "load_average_1m_before": load_before,
        "load_average_1m_after": round(os.getloadavg()[0], 2),
        "target_p99_ms": 100,
        "rows": rows,
        "rows_if_none_match": revalidated,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print("breakdown (ms, one request's parts alone):", parts)
    print("| benchmark | symbol | bars | clients | requests | p50 ms | p99 ms | req/s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows + [dict(r, symbol=r["symbol"] + " (If-None-Match: 304)") for r in revalidated]:
        print(
            f"| api bars 1y 1h | {r['symbol']} | {r['bars']} | {r['clients']} | "
            f"{r['requests']} | {r['p50_ms']} | {r['p99_ms']} | {r['req_per_s']} |"
        )


if __name__ == "__main__":
    main()
