"""Benchmark: the stream collector, replay server fast mode -> PostgreSQL.

Why: the collector must sustain >= 20k ticks/s with a bounded tick-to-commit latency. The
replay server runs in a subprocess (it must not share our GIL) in fast mode
(``tick_interval=0``, ``ticks_per_frame`` delta ``qsd`` envelopes per symbol per frame): the
source outruns the sink, so ``ticks_per_s`` is the collector's capacity and the latency is
that of a saturated buffer. ``BENCH_COLLECTOR_TICK_INTERVAL`` (e.g. 0.01 with 120 ticks per
frame: ~24k ticks/s) paces the source below capacity to see the latency at a given rate. The
server's own send rate is measured first with a client that only counts payloads, so a
run that falls short says whether the source or the collector was the limit. The machine's load
average is printed with the result: the 2 cores are shared, and the figures follow the load.

Writes ``benchmarks/results/collector.json`` (read by ``report.py``); prints a markdown row.

    .venv/bin/python benchmarks/bench_collector.py
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
SYMBOLS = [f"BINANCE:C{i}USDT" for i in range(4)]
QUERY = "?tick_interval={interval}&ticks_per_frame={per_frame}&tick_step=0.001"
_SERVER = "import typer; from candleflow.cli.replay import replay_server; typer.run(replay_server)"


def _start_server() -> tuple[subprocess.Popen, str]:
    server = subprocess.Popen(
        # --any-symbol: the symbols are invented (BINANCE:C0USDT, ...)
        [sys.executable, "-c", _SERVER, "--port", "0", "--any-symbol"],
        stdout=subprocess.PIPE,
        text=True,
    )
    return server, server.stdout.readline().strip()


def server_send_rate(url: str, seconds: float = 3.0) -> float:
    """``qsd`` envelopes per second the server sends to a client that does nothing else."""
    import websocket

    from candleflow.providers.tradingview import protocol as tvp
    from candleflow.providers.tradingview.client import ANONYMOUS_TOKEN, ORIGIN

    ws = websocket.create_connection(url, origin=ORIGIN, skip_utf8_validation=True)
    try:
        ws.recv()  # the hello
        ws.send(tvp.message("set_auth_token", ANONYMOUS_TOKEN))
        ws.send(tvp.message("quote_create_session", "qs_bench"))
        ws.send(tvp.message("quote_add_symbols", "qs_bench", *SYMBOLS))
        count, began = 0, time.perf_counter()
        while time.perf_counter() - began < seconds:
            count += ws.recv_data()[1].count(b'"m":"qsd"')
        return count / (time.perf_counter() - began)
    finally:
        ws.close()


def bench_collector(url: str, *, seconds: float, per_frame: int, interval: float) -> dict:
    from candleflow.providers.tradingview import TradingViewProvider
    from candleflow.providers.tradingview.client import ANONYMOUS_TOKEN
    from candleflow.services.ticks.collector import Collector

    server, ws = _start_server()
    try:
        source = ws + QUERY.format(per_frame=per_frame, interval=interval)
        sends = server_send_rate(source)
        load_before = os.getloadavg()[0]
        with TradingViewProvider(url=source, token=ANONYMOUS_TOKEN) as tv:
            collector = Collector(tv, SYMBOLS, run_id="bench", url=url, flush_interval=0.25)
            stats = collector.run(threading.Event(), duration=seconds)
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(
        f"replay server alone sends {sends:,.0f} ticks/s (tick_interval={interval},"
        f" ticks_per_frame={per_frame});"
        f" load average 1m {load_before:.2f} before, {os.getloadavg()[0]:.2f} after"
    )
    return {
        "seconds": round(stats.elapsed, 2),
        "symbols": len(SYMBOLS),
        "read": stats.read,
        "inserted": stats.inserted,
        "ticks_per_s": round(stats.inserted / stats.elapsed),
        "flushes": stats.flushes,
        "latency_p50_ms": round(stats.latency_ms(0.5), 1),
        "latency_p99_ms": round(stats.latency_ms(0.99), 1),
    }


def main() -> dict:
    from bench_rollup import fresh_database

    seconds = float(os.environ.get("BENCH_COLLECTOR_SECONDS", 15))
    per_frame = int(os.environ.get("BENCH_COLLECTOR_TICKS_PER_FRAME", 250))
    interval = float(os.environ.get("BENCH_COLLECTOR_TICK_INTERVAL", 0))
    url = fresh_database("cf_bench_collector")
    c = bench_collector(url, seconds=seconds, per_frame=per_frame, interval=interval)
    machine = {"python": platform.python_version(), "cpus": os.cpu_count()}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "collector.json").write_text(json.dumps({**c, **machine}, indent=2) + "\n")
    print("| collector ticks/s | latency p50 ms | latency p99 ms | ticks |")
    print(
        f"| {c['ticks_per_s']:,} | {c['latency_p50_ms']} | {c['latency_p99_ms']} |"
        f" {c['inserted']:,} |"
    )
    return c


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
