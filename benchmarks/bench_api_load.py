"""Benchmark: the Candleflow API under 100 concurrent clients for 60 s on the ``make up`` stack.

Why: the API is served inside Airflow's api-server (the plugin at ``/candleflow``), next
to the UI; a crowd of notebooks or chart pages must get answers or the documented
``503 busy`` (``api.capacity``: Retry-After, try again), never another error, and the
api-server must not grow while it serves them. Target: 0 errors other than 503
busy; RSS growth <= 10 %.

Setup: a ``candleflow up`` stack (``stack.running``) against the replay server, two
symbols' 1h bars of 2024 Q1 loaded with ``candleflow sync``. Load: ``CLIENTS`` (100)
threads over ``PROCS`` (4) processes, each with one keep-alive httpx client and the admin's
token, cycling through a month of bars (varying windows, so not every answer is a cache
hit), coverage, the instrument list and a 1d resample, for ``SECONDS`` (60). RSS is the
api-server's process group (all its workers), sampled each second; growth is the last
sample over the first one after a ``WARMUP_S`` warm-up at full load (caches and pools
fill once; growth after that is what would become a leak).

    .venv/bin/python benchmarks/bench_api_load.py   # writes benchmarks/results/api_load.json
"""

from __future__ import annotations

import collections
import os
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))

import harness
import stack

from candleflow.testing import ReplayServer

CLIENTS = int(os.environ.get("CANDLEFLOW_BENCH_LOAD_CLIENTS", "100"))
PROCS = int(os.environ.get("CANDLEFLOW_BENCH_LOAD_PROCS", "4"))
SECONDS = float(os.environ.get("CANDLEFLOW_BENCH_LOAD_SECONDS", "60"))
WARMUP_S = 10.0
SYMBOLS = ("BINANCE:BTCUSDT", "NASDAQ:AAPL")


def paths() -> list[str]:
    out = []
    for symbol in SYMBOLS:
        for day in range(1, 29, 3):
            out.append(
                f"/candleflow/api/v1/bars/{symbol}?timeframe=1h&start=2024-01-{day:02d}"
                f"&end=2024-02-{day:02d}"
            )
        out.append(f"/candleflow/api/v1/bars/{symbol}?timeframe=1d&start=2024-01-01")
        out.append(f"/candleflow/api/v1/coverage/{symbol}?timeframe=1h")
    out.append("/candleflow/api/v1/instruments")
    return out


def _client(base: str, token: str, until: float, offset: int) -> collections.Counter:
    counts: collections.Counter = collections.Counter()
    todo = paths()
    i = offset
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as client:
        while time.time() < until:
            path = todo[i % len(todo)]
            i += 1
            try:
                status = client.get(path, timeout=30).status_code
            except httpx.HTTPError as exc:
                counts[f"error {type(exc).__name__}"] += 1
                continue
            counts[str(status)] += 1
            if status == 503:
                time.sleep(0.2)  # what Retry-After asks of a client
    return counts


def _process(base: str, token: str, until: float, clients: range) -> dict:
    threads, results = [], []
    for n in clients:
        t = threading.Thread(target=lambda n=n: results.append(_client(base, token, until, n)))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    return dict(sum(results, collections.Counter()))


def group_rss_mib(pgid: int) -> float:
    total = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == pgid:
                    statm = Path(f"/proc/{entry}/statm").read_text().split()
                    total += int(statm[1]) * os.sysconf("SC_PAGE_SIZE")
            except (OSError, ProcessLookupError):
                continue
    return total / 2**20


def measure(cf: stack.Stack) -> dict:
    import json

    pids = json.loads((Path(cf.env["CANDLEFLOW_HOME"]) / "airflow-processes.json").read_text())
    api_pid = pids["api-server"]["pid"]
    base = f"http://127.0.0.1:{cf.port}"
    start = time.time() + 2
    until = start + WARMUP_S + SECONDS
    samples: list[tuple[float, float]] = []
    with ProcessPoolExecutor(PROCS) as pool:
        futures = [
            pool.submit(_process, base, cf.token, until, range(i, CLIENTS, PROCS))
            for i in range(PROCS)
        ]
        while time.time() < until:
            samples.append((time.time() - start, group_rss_mib(api_pid)))
            time.sleep(1)
        counts = sum((collections.Counter(f.result()) for f in futures), collections.Counter())
    measured = [rss for t, rss in samples if t >= WARMUP_S]
    ok = sum(n for k, n in counts.items() if k in ("200", "304"))
    busy = counts.get("503", 0)
    return {
        "clients": CLIENTS,
        "seconds": SECONDS,
        "responses": dict(counts),
        "ok": ok,
        "busy_503": busy,
        "errors": sum(counts.values()) - ok - busy,
        "requests_per_s": round(sum(counts.values()) / (WARMUP_S + SECONDS), 1),
        "rss_mib_after_warmup": round(measured[0], 1),
        "rss_mib_end": round(measured[-1], 1),
        "rss_mib_peak": round(max(measured), 1),
        "rss_growth": round(measured[-1] / measured[0] - 1, 4),
        "load_average_1m": os.getloadavg()[0],
    }


def main() -> None:
    watchlist = f"symbols = {list(SYMBOLS)!r}\n[timeframes.1h]\n".replace("'", '"')
    with ReplayServer(seed=1) as srv, stack.running(watchlist, srv.url) as cf:
        args = [str(harness.BIN / "candleflow"), "sync", *SYMBOLS, "-t", "1h"]
        harness.run([*args, "--start", "2024-01-01", "--end", "2024-04-01"], cf.env)
        result = measure(cf)
    result["target"] = {"errors": 0, "rss_growth": 0.10}
    harness.write("api_load", result)


if __name__ == "__main__":
    main()
