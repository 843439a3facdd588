"""``candleflow sync`` in one process: 500 symbols x the last closed hour, and ~1M 1m bars.

Why: the scheduled refresh of a watchlist and a deep backfill are Candleflow's two main jobs;
their cost should be close to what moving the data costs. Both run against the replay
server (the real TradingView client over a real websocket) into a fresh database, and each
is set beside its anchor measured in the same run:

- **500 symbols** (300 XNYS equities, 200 crypto pairs; each has one bar closing in the
  hour): ``candleflow sync`` as a child process, process start included, first with every
  instrument new (resolved through the provider) and then the next hour with them known (the
  steady state of an hourly refresh). Anchors: tvkit and tvdatafeed fetching the latest 100
  bars of the same 500 symbols on one connection (fetch only, no validation, no database).
- **~1M 1m bars** of one symbol: ``candleflow sync`` end to end against a raw binary COPY of
  the same rows into an identical empty table (``LIKE candleflow.bars``).

Sizes: ``CANDLEFLOW_BENCH_SYMBOLS`` (500), ``CANDLEFLOW_BENCH_MINUTES`` (1,000,000).
Writes ``benchmarks/results/sync.json``. Run: ``.venv/bin/python benchmarks/bench_sync.py``.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import harness

from candleflow.db import bulk, connection
from candleflow.testing import ReplayServer, synthetic

DB = "cf_bench_sync"
SYMBOLS = int(os.environ.get("CANDLEFLOW_BENCH_SYMBOLS", "500"))
MINUTES = int(os.environ.get("CANDLEFLOW_BENCH_MINUTES", "1000000"))
HOUR = dt.timedelta(hours=1)
# 5 March 2024 (EST): NYSE trades 14:30-21:00 UTC, so 15:00-16:00 and 16:00-17:00 each close
# one bar of every symbol (the 14:30 and 15:30 equity bars, the 15:00 and 16:00 crypto bars).
HOURS = (dt.datetime(2024, 3, 5, 15, tzinfo=dt.UTC), dt.datetime(2024, 3, 5, 16, tzinfo=dt.UTC))
DEEP_SYMBOL = "BINANCE:BTCUSDT"
DEEP_START = dt.datetime(2022, 1, 1, tzinfo=dt.UTC)

PEERS = (("tvkit", "tvkit_latest_many"), ("tvdatafeed", "tvdatafeed_latest_many"))
PEER = """
import json, time
from candleflow.testing import peers
symbols = {symbols!r}
began = time.perf_counter()
frames = peers.{fn}({url!r}, symbols, "1h", 100)
print(json.dumps({{"seconds": time.perf_counter() - began,
                  "bars": sum(len(f) for f in frames.values())}}))
"""


def cli_sync(env, symbols, tf, start, end) -> float:
    args = [str(harness.BIN / "candleflow"), "sync", *symbols, "-t", tf]
    wall, _ = harness.run([*args, "--start", start.isoformat(), "--end", end.isoformat()], env)
    return wall


def loaded(url: str, since: dt.datetime, until: dt.datetime) -> tuple[int, int, int]:
    """Audit rows, bars inserted and successful loads of the windows inside [since, until]."""
    with connection.transaction(url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(*), coalesce(sum(rows_inserted), 0),"
            " count(*) FILTER (WHERE outcome = 'success') FROM candleflow.load_audit"
            " WHERE window_start >= %s AND window_end <= %s",
            (since, until),
        )
        return cur.fetchone()


def many_symbols(url: str, env: dict) -> dict:
    symbols = harness.universe(SYMBOLS)
    first, second = HOURS
    with ReplayServer(seed=1, now=(second + HOUR).timestamp() + 30, any_symbol=True) as srv:
        env = dict(env, CANDLEFLOW_TRADINGVIEW_URL=srv.url)
        cold = cli_sync(env, symbols, "1h", first, first + HOUR)
        cold_loads = loaded(url, first, first + HOUR)
        warm = cli_sync(env, symbols, "1h", second, second + HOUR)
        warm_loads = loaded(url, second, second + HOUR)
        anchors = {
            name: harness.python(PEER.format(symbols=symbols, fn=fn, url=srv.url), env)[1]
            for name, fn in (
                ("tvkit", "tvkit_latest_many"),
                ("tvdatafeed", "tvdatafeed_latest_many"),
            )
        }
    return {
        "symbols": len(symbols),
        "cold_s": round(cold, 2),
        "cold_loads": cold_loads,
        "warm_s": round(warm, 2),
        "warm_loads": warm_loads,
        "warm_ms_per_symbol": round(1000 * warm / len(symbols), 2),
        "anchors": {
            k: {"seconds": round(v["seconds"], 2), "bars": v["bars"],
                "ms_per_symbol": round(1000 * v["seconds"] / len(symbols), 2)}
            for k, v in anchors.items()
        },
    }  # fmt: skip


def deep(url: str, env: dict) -> dict:
    end = DEEP_START + dt.timedelta(minutes=MINUTES)
    with ReplayServer(seed=1, now=end.timestamp() + 60) as srv:
        env = dict(env, CANDLEFLOW_TRADINGVIEW_URL=srv.url)
        wall = cli_sync(env, [DEEP_SYMBOL], "1m", DEEP_START, end)
    loads, inserted, ok = loaded(url, DEEP_START, end)
    frame = synthetic.bars(DEEP_SYMBOL, "1m", DEEP_START, end, seed=1).assign(filled=False)
    with connection.transaction(url) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE bench_raw (LIKE candleflow.bars INCLUDING ALL)")
    columns = dict.fromkeys(["open", "high", "low", "close", "volume"], "float8")
    columns |= {"ts": "timestamptz", "filled": "bool"}
    constants = {"instrument_id": 1, "timeframe": "1m", "source": "provider", "run_id": "raw"}
    began = time.perf_counter()
    with connection.transaction(url) as conn:
        bulk.copy_frame(conn, "bench_raw", frame, columns, constants)
    raw = time.perf_counter() - began
    return {
        "bars": int(inserted),
        "loads": loads,
        "successful": ok,
        "sync_s": round(wall, 2),
        "sync_bars_per_s": round(inserted / wall),
        "raw_copy_s": round(raw, 2),
        "raw_copy_rows_per_s": round(len(frame) / raw),
        "ratio": round((inserted / wall) / (len(frame) / raw), 3),
    }


def main() -> None:
    url = harness.fresh_database(DB)
    env = dict(os.environ, CANDLEFLOW_DATABASE_URL=url)
    try:
        result = {"many_symbols": many_symbols(url, env), "deep": deep(url, env)}
    finally:
        harness.drop_database(DB)
    harness.write("sync", result)


if __name__ == "__main__":
    main()
