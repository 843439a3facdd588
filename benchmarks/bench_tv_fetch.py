"""Benchmark: ``fetch_bars`` of 50,000 1h bars through the replay server.

Why: a backfill is dominated by history paging, so this measures bars per second of the
real client (ten 5,000-bar pages on one socket) and splits the time into network wait
(blocked in ``recv``: server work plus transfer), decoding (envelopes and JSON) and
DataFrame building, plus merging bars into the store; "other" is mostly the base class's
normalisation (UTC, trim, dedupe, sort).
Prints a markdown table row and writes ``benchmarks/results/tv_fetch.json``.

    .venv/bin/python benchmarks/bench_tv_fetch.py [--bars 50000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import time
from pathlib import Path

from candleflow.providers.tradingview import TradingViewProvider
from candleflow.testing import synthetic
from candleflow.testing.replay_server import ReplayServer

RESULTS = Path(__file__).parent / "results" / "tv_fetch.json"
SYMBOL, TIMEFRAME = "BINANCE:BTCUSDT", "1h"


def run_once(url: str, start: dt.datetime, end: dt.datetime) -> dict[str, float | int]:
    with TradingViewProvider(url=url, timeout=30.0) as tv:
        began = time.perf_counter()
        bars = tv.fetch_bars(SYMBOL, TIMEFRAME, start, end)
        total = time.perf_counter() - began
        timings = tv.timings.as_dict()
    expected = synthetic.bars(SYMBOL, TIMEFRAME, start, end, seed=1)
    if not bars.reset_index(drop=True).equals(expected.reset_index(drop=True)):
        raise SystemExit("fetched bars differ from the oracle: the benchmark is void")
    parts = sum(timings[k] for k in ("network_wait_s", "decode_s", "merge_s", "frame_build_s"))
    return {
        "bars": len(bars),
        "total_s": total,
        "bars_per_s": len(bars) / total,
        **timings,
        "other_s": total - parts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs; the fastest is reported")
    args = parser.parse_args()
    end = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    start = end - dt.timedelta(hours=args.bars)
    with ReplayServer(port=0, seed=1, bar_cap=5000) as server:
        runs = [run_once(server.url, start, end) for _ in range(args.repeat)]
    best = min(runs, key=lambda r: r["total_s"])
    result = {
        "benchmark": "tv_fetch",
        "symbol": SYMBOL,
        "timeframe": TIMEFRAME,
        "python": platform.python_version(),
        "runs": runs,
        "best": best,
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(
        "| benchmark | bars | total s | bars/s | network wait s | decode s | merge s "
        "| DataFrame s | other s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print(
        f"| tv_fetch {TIMEFRAME} | {best['bars']} | {best['total_s']:.3f} | "
        f"{best['bars_per_s']:,.0f} | {best['network_wait_s']:.3f} | {best['decode_s']:.3f} | "
        f"{best['merge_s']:.3f} | {best['frame_build_s']:.3f} | {best['other_s']:.3f} |"
    )


if __name__ == "__main__":
    main()
