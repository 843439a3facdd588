"""Benchmark: ``fetch_bars`` of a year of 1m bars through ccxt from the Binance stub.

Why: deep backfills are what the ccxt provider is for, so this measures bars per second of
``CcxtProvider.fetch_bars`` over 2024 (527,040 minutes, 528 pages of 1,000) against ccxt's
own ``fetch_ohlcv`` loop (``since`` = last + 1 minute, the loop freqtrade and most scripts
write) on the same stub in the same run: the ratio is the provider's overhead over raw ccxt
(its frame building, the base class's normalisation, the retry wrapper). Both run as
configured by default, ccxt's rate limiter on (Binance's klines weigh 0.4 x 50 ms = 20 ms
a page in ccxt's model: about 40 pages/s at most). The stub runs in a subprocess so that it
does not share the GIL; runs alternate so load changes hit both alike.

    .venv/bin/python benchmarks/bench_ccxt.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "ccxt.json"
SYMBOL, MARKET = "BINANCE:BTCUSDT", "BTC/USDT"
START, END = dt.datetime(2024, 1, 1, tzinfo=dt.UTC), dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
STUB_ARGS = ("--port", "0", "--no-freqtrade", "--synthetic")
OPTIONS = {"options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False}}


def start_stub() -> tuple[subprocess.Popen, str]:
    spec = f"BTCUSDT:BTC:USDT:{START:%Y-%m-%d}:{END:%Y-%m-%d}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "candleflow.testing.binance_stub", *STUB_ARGS, spec],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline().strip()  # "listening on http://127.0.0.1:PORT/api/v3"
    if not line.startswith("listening on "):
        proc.kill()
        raise SystemExit(f"the stub did not start: {line!r}")
    return proc, line.removeprefix("listening on ")


def provider_run(api: str) -> dict[str, float]:
    from candleflow.providers.ccxt import CcxtProvider
    from candleflow.providers.ccxt.exchange import forget_instances

    forget_instances()  # a fresh instance per run, as a new task process would have
    prov = CcxtProvider(urls={"api": {"public": api}})
    prov.resolve(SYMBOL)  # markets loaded outside the timing, as in the raw loop
    began = time.perf_counter()
    bars = prov.fetch_bars(SYMBOL, "1m", START, END)
    total = time.perf_counter() - began
    return {"bars": len(bars), "seconds": total, "bars_per_s": len(bars) / total, "frame": bars}


def raw_ccxt_run(api: str) -> dict[str, float]:
    import ccxt

    exchange = ccxt.binance({"urls": {"api": {"public": api}}, "enableRateLimit": True, **OPTIONS})
    exchange.load_markets()
    began = time.perf_counter()
    since, end_ms, rows = int(START.timestamp() * 1000), int(END.timestamp() * 1000), []
    while since < end_ms:
        page = exchange.fetch_ohlcv(MARKET, "1m", since=since, limit=1000)
        if not page:
            break
        rows += [r for r in page if r[0] < end_ms]
        since = page[-1][0] + 60_000
    total = time.perf_counter() - began
    return {"bars": len(rows), "seconds": total, "bars_per_s": len(rows) / total, "rows": rows}


def overhead_parts(rows: list[list]) -> dict[str, float]:
    """The provider's own steps on the raw loop's candles: frame building, normalisation."""
    from candleflow.domain import Timeframe
    from candleflow.frames import normalize_bars
    from candleflow.providers.ccxt.bars import to_frame

    began = time.perf_counter()
    frame = to_frame(rows)
    built = time.perf_counter()
    normalize_bars(frame, Timeframe.parse("1m"), START, END, dt.datetime.now(dt.UTC))
    return {"to_frame_s": built - began, "normalize_s": time.perf_counter() - built}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the fastest counts")
    args = parser.parse_args()
    import ccxt

    load_before = os.getloadavg()[0]
    stub_began = time.perf_counter()
    proc, api = start_stub()
    stub_s = time.perf_counter() - stub_began
    try:
        providers, raws = [], []
        for _ in range(args.repeat):  # interleaved, so load changes hit both alike
            providers.append(provider_run(api))
            raws.append(raw_ccxt_run(api))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    best, anchor = (
        max(providers, key=lambda r: r["bars_per_s"]),
        max(raws, key=lambda r: r["bars_per_s"]),
    )
    frame, rows = best["frame"], anchor["rows"]
    for run in (*providers, *raws):
        run.pop("frame", None)
        run.pop("rows", None)
    same = len(frame) == len(rows) and all(
        (frame[col].to_numpy() == [r[i] for r in rows]).all()
        for i, col in ((1, "open"), (4, "close"))
    )
    if not same:
        raise SystemExit("the provider's bars differ from raw ccxt's: the benchmark is void")
    result = {
        "benchmark": "ccxt",
        "symbol": SYMBOL,
        "window": [START.isoformat(), END.isoformat()],
        "ccxt": ccxt.__version__,
        "python": platform.python_version(),
        "stub_start_s": stub_s,
        "provider": best,
        "raw_ccxt": anchor,
        "ratio": best["bars_per_s"] / anchor["bars_per_s"],
        "provider_runs": providers,
        "raw_runs": raws,
        "overhead": overhead_parts(rows),
        "load_average": [load_before, os.getloadavg()[0]],
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print("| run | bars | seconds | bars/s |")
    print("|---|---|---|---|")
    for label, run in (("provider", best), ("raw ccxt loop", anchor)):
        print(f"| {label} | {run['bars']} | {run['seconds']:.2f} | {run['bars_per_s']:,.0f} |")
    print(f"ratio provider / raw ccxt: {result['ratio']:.2f}; overhead parts {result['overhead']}")


if __name__ == "__main__":
    main()
