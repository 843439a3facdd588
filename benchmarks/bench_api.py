"""Benchmark: GET /api/v1/bars for a year of 1h bars at 1 and 20 concurrent clients, and the
time to answer a request that hits each limit.

Why: the chart page and BI notebooks ask for a year of hourly bars at a time, and the API
checks an Airflow token (a JWT signature and a revocation lookup in the metadata database)
on every request. Target: p99 < 100 ms at 20 clients on loopback. Anchor, same run: the
same requests to a second server with the page cache off (CANDLEFLOW_API_CACHE_MB=0), i.e.
every request reads, resamples nothing (1h is stored) and encodes 8,760 bars.

Setup: a fresh warehouse database (cf_bench_api) on the embedded server (or
CANDLEFLOW_DATABASE_URL's) with one year of 1h bars for a 24x7 symbol (8,760 bars) and a
session symbol (weekdays, 7 bars a day: ~1,820), a migrated Airflow metadata database
(cf_bench_airflow), and the app under uvicorn in a subprocess on a free loopback port
(CANDLEFLOW_BENCH_API_WORKERS workers, default 1). The load generator runs in other
processes (CANDLEFLOW_BENCH_API_PROCS, default 4, the clients spread over them as threads),
each client with one keep-alive httpx.Client sending Accept-Encoding: gzip as browsers do;
a request's latency is send to last body byte (the raw body: decompressing is the
client's work, not the server's). Bounded: CANDLEFLOW_BENCH_API_REQUESTS per client
(default 20) and a 120 s deadline per run. rows_if_none_match: every client revalidates
with the ETag it got (304s). limits: one request over each limit, timed (median of 5).
load_average_1m is sampled just before the timed runs: the 2 cores are shared.
Prints a markdown table, writes benchmarks/results/api.json.

    .venv/bin/python benchmarks/bench_api.py
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import httpx

from candleflow.db import connection, embedded, migrate
from candleflow.stack import env as stack_env

RESULTS = Path(__file__).parent / "results" / "api.json"
CLIENTS = int(os.environ.get("CANDLEFLOW_BENCH_API_CLIENTS", "20"))
REQUESTS = int(os.environ.get("CANDLEFLOW_BENCH_API_REQUESTS", "20"))
WORKERS = int(os.environ.get("CANDLEFLOW_BENCH_API_WORKERS", "1"))
PROCS = int(os.environ.get("CANDLEFLOW_BENCH_API_PROCS", "4"))
SERVER_LOG = Path(__file__).parent / "results" / "api_server.log"
DEADLINE_S = 120.0
YEAR = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
SERIES = {"BINANCE:BTCUSDT": "24x7", "NASDAQ:AAPL": "0930-1600"}
PATH = "/api/v1/bars/{}?timeframe=1h&start=2023-01-01&end=2024-01-01&limit=10000"
BTC = "BINANCE:BTCUSDT"
LIMITS = {
    "coverage grid (1m since 1990)": (f"/api/v1/coverage/{BTC}?timeframe=1m&start=1990-01-01", 422),
    "window (1900 to 2024)": (
        f"/api/v1/bars/{BTC}?timeframe=1d&start=1900-01-01&end=2024-01-01",
        422,
    ),
    "symbols (501 in one quotes request)": (
        "/api/v1/quotes?symbols=" + ",".join(f"X:S{i}" for i in range(501)),
        422,
    ),
    "limit (50,001 bars per page)": (f"/api/v1/bars/{BTC}?timeframe=1h&limit=50001", 422),
    "unknown symbol": ("/api/v1/bars/NASDAQ:NOPE?timeframe=1h&start=2023-01-01", 404),
}


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


def _client(base: str, token: str, path: str, n: int, deadline: float, etag: str | None):
    latencies = []
    headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "gzip"}
    if etag:
        headers["If-None-Match"] = etag
    with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
        for _ in range(n):
            if time.monotonic() > deadline:
                break
            began = time.perf_counter()
            with http.stream("GET", path) as response:
                for _chunk in response.iter_raw():
                    pass
            latencies.append(time.perf_counter() - began)
            if response.status_code != (304 if etag else 200):
                raise RuntimeError(f"{path}: HTTP {response.status_code}")
    return latencies


def _load(base: str, token: str, path: str, clients: int, deadline_s: float, etag: str | None):
    """One load-generator process: ``clients`` threads, their latencies (s)."""
    deadline = time.monotonic() + deadline_s
    with ThreadPoolExecutor(clients) as pool:
        futures = [
            pool.submit(_client, base, token, path, REQUESTS, deadline, etag)
            for _ in range(clients)
        ]
        return [x for f in futures for x in f.result()]


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the server has used so far: the uvicorn process and,
    with several workers, its worker processes."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # gone meanwhile
        if stat.parent.name == str(pid) or fields[1] == str(pid):  # itself, or a child
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def run(procs: ProcessPoolExecutor, server: tuple[int, str], token: str, symbol: str,
        expected: int, clients: int, *, conditional: bool = False) -> dict:  # fmt: skip
    pid, base = server
    path = PATH.format(symbol)
    # The first request imports Airflow (the token check) and fills the caches: not timed.
    began = time.perf_counter()
    first = httpx.get(base + path, headers={"Authorization": f"Bearer {token}"}, timeout=120)
    first_ms = (time.perf_counter() - began) * 1000
    body = first.json()
    assert body["count"] == expected and body["next"] is None, body.get("detail")
    etag = first.headers["etag"] if conditional else None
    share = [clients // PROCS + (i < clients % PROCS) for i in range(min(PROCS, clients))]
    cpu, began = _cpu_s(pid), time.perf_counter()
    futures = [procs.submit(_load, base, token, path, n, DEADLINE_S, etag) for n in share]
    samples = sorted(x for f in futures for x in f.result())
    wall, cpu = time.perf_counter() - began, _cpu_s(pid) - cpu
    ms = [x * 1000 for x in samples]
    return {
        "symbol": symbol,
        "bars": expected,
        "clients": clients,
        "requests": len(ms),
        "first_request_ms": round(first_ms, 1),
        "p50_ms": round(statistics.median(ms), 1),
        "p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 1),
        "max_ms": round(ms[-1], 1),
        "req_per_s": round(len(ms) / wall, 1),
        # the server's own CPU per request: what the load of the machine does not change
        "server_cpu_ms_per_request": round(cpu * 1000 / len(ms), 2),
        "mb_per_response": 0.0 if conditional else round(len(first.content) / 1e6, 2),
    }


def limits(base: str, token: str, n: int = 5) -> dict[str, dict]:
    """The time to answer one request over each limit (median of n), with its answer."""
    out = {}
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as http:
        for name, (path, status) in LIMITS.items():
            times, response = [], None
            for _ in range(n):
                began = time.perf_counter()
                response = http.get(path, timeout=60)
                times.append((time.perf_counter() - began) * 1000)
            assert response is not None and response.status_code == status, response.text
            out[name] = {
                "status": status,
                "ms": round(statistics.median(times), 1),
                "detail": response.json()["detail"][:160],
            }
    return out


def breakdown(url: str, token: str, symbol: str, n: int = 10) -> dict[str, float]:
    """Where a request's time goes, each part alone in this process (median ms of n)."""
    import asyncio

    from candleflow import query
    from candleflow.api.auth import auth_manager
    from candleflow.api.bars import build_page
    from candleflow.api.cache import PAGES, Page
    from candleflow.api.encode import bars_json
    from candleflow.domain import Timeframe

    os.environ["CANDLEFLOW_DATABASE_URL"] = url
    start, end = dt.datetime(2023, 1, 1, tzinfo=dt.UTC), dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    table = query.bars([symbol], "1h", start, end, output="arrow")
    body = bars_json(table)
    hour = Timeframe.parse("1h")
    parts = {
        "auth_token_check": lambda: asyncio.run(auth_manager().get_user_from_token(token)),
        "bar_version (every request)": lambda: query.bar_version(symbol),
        "page from the cache (every request)": lambda: build_page(
            symbol, hour, start, end, None, 10000, cacheable=True
        ),
        "query_bars_pooled_arrow (miss)": lambda: query.bars([symbol], "1h", start, end),
        "json_encode (miss)": lambda: bars_json(table),
        "gzip + etag (miss)": lambda: Page.of(body),
    }
    out = {}
    for name, call in parts.items():
        call()
        times = []
        for _ in range(n):
            began = time.perf_counter()
            call()
            times.append((time.perf_counter() - began) * 1000)
        out[name] = round(statistics.median(times), 2)
    PAGES.clear()
    return out


def _serve(env: dict[str, str], log) -> tuple[subprocess.Popen, str]:
    """The app under uvicorn (one worker runs in the uvicorn process itself)."""
    port = stack_env.free_port()
    command = [sys.executable, "-m", "uvicorn", "candleflow.api.app:create_app", "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    command += ["--workers", str(WORKERS)]
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(base + "/health").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    return proc, base


def main() -> None:
    server = os.environ.get("CANDLEFLOW_DATABASE_URL")
    if not server:
        embedded.start()
        server = embedded.url("postgres")
    server = connection.admin_url(server, "postgres")
    load_before = round(os.getloadavg()[0], 2)
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
    SERVER_LOG.parent.mkdir(exist_ok=True)
    log = SERVER_LOG.open("w")  # the servers' own lines, out of the table's way
    cached, base = _serve(env, log)
    uncached, anchor_base = _serve({**env, "CANDLEFLOW_API_CACHE_MB": "0"}, log)
    try:
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(PROCS, mp_context=spawn) as procs:
            procs.submit(time.sleep, 0).result()  # start the load generators before timing
            load_at_runs = round(os.getloadavg()[0], 2)
            fast, slow = (cached.pid, base), (uncached.pid, anchor_base)
            rows = [
                run(procs, fast, token, symbol, n, c)
                for symbol, n in counts.items()
                for c in (1, CLIENTS)
            ]
            anchors = [run(procs, slow, token, BTC, counts[BTC], c) for c in (1, CLIENTS)]
            revalidated = [run(procs, fast, token, BTC, counts[BTC], CLIENTS, conditional=True)]
        over = limits(base, token)
    finally:
        for proc in (cached, uncached):
            proc.terminate()
            proc.wait(timeout=30)
        log.close()
    import logging

    logging.disable(logging.INFO)  # query.bars logs a line per call
    parts = breakdown(url, token, BTC)
    result = {
        "benchmark": "api_bars_1y_1h",
        "breakdown_ms_8760_bars": parts,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "workers": WORKERS,
        "load_generator_processes": PROCS,
        "load_average_1m": load_at_runs,
        "load_average_1m_before": load_before,
        "load_average_1m_after": round(os.getloadavg()[0], 2),
        "target_p99_ms": 100,
        "rows": rows,
        "anchor_no_cache": anchors,
        "rows_if_none_match": revalidated,
        "limits": over,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print("breakdown (ms, one request's parts alone):", parts)
    print(
        "| run | symbol | bars | clients | requests | p50 ms | p99 ms | req/s | server CPU ms/req |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    tagged = [("cached", r) for r in rows] + [("no cache (anchor)", r) for r in anchors]
    tagged += [("If-None-Match: 304", r) for r in revalidated]
    for tag, r in tagged:
        print(
            f"| {tag} | {r['symbol']} | {r['bars']} | {r['clients']} | {r['requests']} | "
            f"{r['p50_ms']} | {r['p99_ms']} | {r['req_per_s']} | {r['server_cpu_ms_per_request']} |"
        )
    print("| limit hit | status | ms |\n|---|---:|---:|")
    for name, r in over.items():
        print(f"| {name} | {r['status']} | {r['ms']} |")
    print(f"load average (1m) at the runs: {load_at_runs}")


if __name__ == "__main__":
    main()
