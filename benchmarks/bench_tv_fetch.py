"""Benchmark: ``fetch_bars`` through the replay server: throughput, and ranged vs count paging.

Why: a backfill is dominated by history paging. Part one measures bars per second of the
real client over 50,000 1h bars (ten 5,000-bar pages on one socket) and splits the time into
network wait (blocked in ``recv``: server work plus transfer), decoding (envelopes and JSON)
and DataFrame building, plus merging bars into the store; "other" is mostly the base class's
normalisation (UTC, trim, dedupe, sort).

Part two is an old window, the shape of a history backfill: one month of 1h bars a year
back (``--old-days``), fetched with ranged requests (the default), with count paging from
the newest bar (the anchor, same run, same server), and from a server that ignores ranges
(the fallback). Each reports its time and the bars the server sent (``bars_sent``).
Prints markdown table rows and writes ``benchmarks/results/tv_fetch.json``.

    .venv/bin/python benchmarks/bench_tv_fetch.py [--bars 50000] [--repeat 3] [--old-days 365]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import time
from pathlib import Path

from candleflow.providers.tradingview import TradingViewProvider
from candleflow.testing import synthetic
from candleflow.testing.replay_server import ReplayServer

RESULTS = Path(__file__).parent / "results" / "tv_fetch.json"
SYMBOL, TIMEFRAME = "BINANCE:BTCUSDT", "1h"


def run_once(
    url: str, start: dt.datetime, end: dt.datetime, *, paging: str = "range"
) -> dict[str, float | int]:
    with TradingViewProvider(url=url, timeout=30.0, paging=paging) as tv:  # type: ignore[arg-type]
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


def old_window(days_back: int, repeat: int) -> dict[str, dict[str, float | int]]:
    """One month of 1h bars ``days_back`` days ago: ranged, count paging, range ignored."""
    now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    start = now - dt.timedelta(days=days_back)
    end = start + dt.timedelta(days=30)
    out: dict[str, dict[str, float | int]] = {}
    for label, scenario, paging in (
        ("range", None, "range"),
        ("count", None, "count"),
        ("range_ignored", "ignore_range", "range"),
    ):
        runs = []
        for _ in range(repeat):
            with ReplayServer(port=0, seed=1, bar_cap=5000, scenario=scenario) as server:
                run = run_once(server.url, start, end, paging=paging)
                run["bars_sent"] = server.stats.bars_sent
            runs.append(run)
        out[label] = min(runs, key=lambda r: r["total_s"])
    out["range"]["count_over_range_time"] = out["count"]["total_s"] / out["range"]["total_s"]
    out["range"]["count_over_range_bars"] = out["count"]["bars_sent"] / out["range"]["bars_sent"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs; the fastest is reported")
    parser.add_argument("--old-days", type=int, default=365, help="age of the old window")
    args = parser.parse_args()
    end = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    start = end - dt.timedelta(hours=args.bars)
    with ReplayServer(port=0, seed=1, bar_cap=5000) as server:
        runs = [run_once(server.url, start, end) for _ in range(args.repeat)]
    best = min(runs, key=lambda r: r["total_s"])
    old = old_window(args.old_days, args.repeat)
    result = {
        "benchmark": "tv_fetch",
        "symbol": SYMBOL,
        "timeframe": TIMEFRAME,
        "python": platform.python_version(),
        "runs": runs,
        "best": best,
        "old_window": {"days_back": args.old_days, "days_long": 30, **old},
        "load_average": list(os.getloadavg()),
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
    print()
    print(f"old window: 30 days of {TIMEFRAME} bars, {args.old_days} days back")
    print("| paging | bars returned | bars sent by the server | pages | total s |")
    print("|---|---|---|---|---|")
    for label, run in old.items():
        print(
            f"| {label} | {run['bars']} | {run['bars_sent']} | {run['pages']} "
            f"| {run['total_s']:.3f} |"
        )


if __name__ == "__main__":
    main()
