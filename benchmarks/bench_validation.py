"""Benchmark: bar validation, from a task's first window to a million bars.

Why: validation sits between fetch and load on every window. A scheduled run loads one or
a few bars per symbol, so what counts there is the fixed cost: importing Great Expectations
in a fresh task process (seconds) and each warm call (it was 0.4 s for a 48-row window).
A backfill loads big windows, where the target is that GX costs no more than the load.
Scenarios, each with its anchor measured in the same run:

- ``in_task``: the first validation inside a real Airflow task process: a ``candleflow up``
  stack (LocalExecutor; scheduler -> executor worker -> task process, all forks) with the
  replay server as TradingView, ``ohlcv_1h`` unpaused, the ``timing`` its loads recorded
  in ``load_audit.validation``. Anchor: the same stack with ``CANDLEFLOW_WARM_VALIDATION=0``
  (the task imports GX itself). Target <= 1 s. ``--no-stack`` skips it (two stack starts,
  about 5-10 minutes here).
- ``fork_chain``: the same process chain without Airflow (multiprocessing fork, then
  ``os.fork``, as the LocalExecutor and the task SDK do), warm-up on and off.
- ``window_1`` / ``window_48``: a warm ``validate_bars`` of a 1-bar / 48-bar window (median
  and best of ``--repeat``), and the GX part alone. Anchor: GX's public ``Batch.validate``
  of the same frame (``run_suite(engine="stock")``), the path every call used to take.
  Target <= 20 ms for one bar.
- ``batch_64``: what a chunk of an hourly run does: 64 one-bar windows of 64 different
  instruments validated together (``validate_windows``, one GX run); the per-window cost,
  against ``window_1`` (each window its own run).
- ``million``: ``validate_bars`` on 1,000,000 synthetic 1m bars with a few bad ones, and
  the GX part alone (``report.py`` sets it against the load of the same rows).

Writes ``benchmarks/results/validation.json``. Run:
``.venv/bin/python benchmarks/bench_validation.py [--bars 1000000] [--repeat 50] [--no-stack]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))

import harness

from candleflow.domain import Instrument
from candleflow.validation import suite, validate_bars, warm

BTC = Instrument("BINANCE:BTCUSDT")
BAD_ROWS = {10: ("low", -1.0), 20: ("high", np.nan), 30: ("volume", -5.0), 40: ("low", 1e9)}
STACK_SYMBOLS = ["BINANCE:C0000USDT", "BINANCE:C0001USDT", "BINANCE:C0002USDT"]


def synthetic(n: int, freq: str = "1min") -> pd.DataFrame:
    rng = np.random.default_rng(1)
    ts = pd.date_range("2020-01-01", periods=n, freq=freq, tz="UTC").as_unit("us")
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 1e-4, n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    spread = np.abs(rng.normal(0, 0.05, n))
    return pd.DataFrame(
        {
            "ts": ts,
            "open": open_,
            "high": np.maximum(open_, close) + spread,
            "low": np.minimum(open_, close) - spread,
            "close": close,
            "volume": rng.integers(1, 1000, n).astype("float64"),
        }
    )


def _window(bars: pd.DataFrame, step: pd.Timedelta) -> dict:
    start, end = bars["ts"].iloc[0], bars["ts"].iloc[-1] + step
    return {"instrument": BTC, "start": start, "end": end, "now": end + pd.Timedelta(days=1)}


class _GxClock:
    """Times ``suite.run_suite`` inside ``validate_bars`` and keeps the frame it got."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.frame = None
        self.kwargs: dict = {}
        self.inner = suite.run_suite

    def __enter__(self) -> _GxClock:
        def timed(frame, **kw):
            began = time.perf_counter()
            try:
                return self.inner(frame, **kw)
            finally:
                self.times.append(time.perf_counter() - began)
                self.frame, self.kwargs = frame, kw

        suite.run_suite = timed
        return self

    def __exit__(self, *exc) -> None:
        suite.run_suite = self.inner


def window(rows: int, repeat: int) -> dict:
    """Warm validate_bars of a small 1h window, and GX's stock path on the same frame."""
    bars = synthetic(rows, "1h")
    kwargs = {**_window(bars, pd.Timedelta(hours=1)), "timeframe": "1h"}
    validate_bars(bars, **kwargs)  # warm: the runner exists from here on
    totals, cpu = [], []
    with _GxClock() as gx:
        for _ in range(repeat):
            began, cpu_began = time.perf_counter(), time.process_time()
            validate_bars(bars, **kwargs)
            totals.append(time.perf_counter() - began)
            cpu.append(time.process_time() - cpu_began)
    stock = []
    for _ in range(max(3, repeat // 10)):
        began = time.perf_counter()
        suite.run_suite(gx.frame, **gx.kwargs, engine="stock")
        stock.append(time.perf_counter() - began)
    ms = [t * 1000 for t in totals]
    return {
        "rows": rows,
        "repeat": repeat,
        "median_ms": statistics.median(ms),
        "best_ms": min(ms),
        "p90_ms": float(np.percentile(ms, 90)),
        "cpu_median_ms": statistics.median(cpu) * 1000,  # what the call costs, load aside
        "gx_median_ms": statistics.median(gx.times) * 1000,
        "stock_gx_median_ms": statistics.median(stock) * 1000,
        "load_average": os.getloadavg()[0],
    }


def batch(windows: int, repeat: int) -> dict:
    """One GX run for ``windows`` one-bar windows of different instruments (a chunk's batch)."""
    from candleflow.domain import Instrument, Timeframe
    from candleflow.validation import Window, validate_windows

    bars = synthetic(1, "1h")
    w = _window(bars, pd.Timedelta(hours=1))
    items = [
        Window(bars, Instrument(f"BINANCE:C{i:04d}USDT"), Timeframe.parse("1h"),
               w["start"].to_pydatetime(), w["end"].to_pydatetime(), w["now"].to_pydatetime())
        for i in range(windows)
    ]  # fmt: skip
    validate_windows(items)
    totals, cpu = [], []
    for _ in range(repeat):
        began, cpu_began = time.perf_counter(), time.process_time()
        validate_windows(items)
        totals.append(time.perf_counter() - began)
        cpu.append(time.process_time() - cpu_began)
    return {
        "windows": windows,
        "repeat": repeat,
        "median_ms": statistics.median(totals) * 1000,
        "per_window_ms": statistics.median(totals) * 1000 / windows,
        "cpu_per_window_ms": statistics.median(cpu) * 1000 / windows,
        "load_average": os.getloadavg()[0],
    }


def million(n: int, repeat: int) -> dict:
    bars = synthetic(n)
    for row, (col, value) in BAD_ROWS.items():
        bars.loc[row, col] = value
    kwargs = {**_window(bars, pd.Timedelta(minutes=1)), "timeframe": "1m"}
    runs = []
    with _GxClock() as gx:
        for _ in range(repeat):
            began = time.perf_counter()
            result = validate_bars(bars, **kwargs)
            total = time.perf_counter() - began
            if len(result.rejected) != len(BAD_ROWS):
                raise SystemExit(f"expected {len(BAD_ROWS)} rejects, got {len(result.rejected)}")
            runs.append(
                {
                    "bars": n,
                    "total_s": total,
                    "gx_s": gx.times[-1],
                    "rows_per_s": n / total,
                    "gx_rows_per_s": n / gx.times[-1],
                    "rejected": len(result.rejected),
                }
            )
    return {"runs": runs, "best": min(runs, key=lambda r: r["total_s"])}


FORK_CHAIN = r"""
import json, multiprocessing, os, sys, time
from candleflow.validation import warm
began = time.perf_counter()
warm.install(["airflow", "scheduler"])

def task(out):
    import pandas as pd
    from candleflow.domain import Instrument
    t0 = time.perf_counter()
    from candleflow.validation import validate_bars
    ts = pd.DatetimeIndex([pd.Timestamp("2024-03-01 10:00", tz="UTC")]).as_unit("us")
    bars = pd.DataFrame({"ts": ts, "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0,
                         "volume": 1.0})
    r = validate_bars(bars, instrument=Instrument("BINANCE:BTCUSDT"), timeframe="1h",
                      start=ts[0], end=ts[0] + pd.Timedelta(hours=1), now="2024-03-02")
    os.write(out, json.dumps({"first_s": time.perf_counter() - t0, **r.summary["timing"]})
             .encode())

def worker(out):
    pid = os.fork()
    if pid == 0:
        task(out)
        os._exit(0)
    os.waitpid(pid, 0)

read, write = os.pipe()
p = multiprocessing.get_context("fork").Process(target=worker, args=(write,))
p.start(); p.join(); os.close(write)
child = json.loads(os.read(read, 65536))
print(json.dumps({"parent_to_fork_s": time.perf_counter() - began, "warm": warm.status(),
                  "child": child}))
"""


def fork_chain(setting: str) -> dict:
    env = dict(os.environ, **{warm.ENV: setting})
    _, got = harness.python(FORK_CHAIN, env, timeout=900)
    return {
        "first_validation_s": got["child"]["first_s"],
        "gx_warm": got["child"]["gx_warm"],
        "warm_up_s": got["warm"]["seconds"],
    }


def in_task(setting: str | None) -> dict:
    """A real stack's first scheduled ohlcv_1h run: each load's validation timing.

    ``setting`` None is the default (only the scheduler warms up); "0" turns warm-up off."""
    import bench_stack
    import stack

    from candleflow.db import connection
    from candleflow.testing import ReplayServer

    before = os.environ.pop(warm.ENV, None)
    if setting is not None:
        os.environ[warm.ENV] = setting  # stack.running passes os.environ to candleflow up
    try:
        with (
            ReplayServer(seed=1, any_symbol=True) as srv,
            stack.running(bench_stack.watchlist(STACK_SYMBOLS, False), srv.url) as cf,
        ):
            cf.wait_for_dags({"ohlcv_1h"})
            run = bench_stack._first_scheduled(cf, "ohlcv_1h")
            with connection.transaction(cf.warehouse_url()) as conn, conn.cursor() as cur:
                cur.execute(
                    "SELECT validation->'summary'->'timing' FROM candleflow.load_audit"
                    " WHERE run_id = %s AND validation IS NOT NULL ORDER BY finished_at",
                    (run["dag_run_id"],),
                )
                timings = [row[0] for row in cur.fetchall()]
    finally:
        if before is None:
            os.environ.pop(warm.ENV, None)
        else:
            os.environ[warm.ENV] = before
    if not timings:
        raise SystemExit(f"run {run['dag_run_id']} ({run['state']}) recorded no validation")
    first = [t for t in timings if t["nth_in_process"] == 1]
    later = [t["seconds"] for t in timings if t["nth_in_process"] > 1]
    return {
        "run_state": run["state"],
        "loads": len(timings),
        "first_validation_s": max(t["seconds"] for t in first),
        "first_gx_warm": all(t["gx_warm"] for t in first),
        "later_median_s": statistics.median(later) if later else None,
        "load_average": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=50, help="runs of each small window")
    parser.add_argument("--big-repeat", type=int, default=3, help="runs of the 1M window")
    parser.add_argument("--no-stack", action="store_true", help="skip the real-stack runs")
    args = parser.parse_args()
    out: dict = {"fork_chain": {"warm": fork_chain("1"), "cold": fork_chain("0")}}
    began = time.perf_counter()
    validate_bars(
        synthetic(1, "1h"), **_window(synthetic(1, "1h"), pd.Timedelta(hours=1)), timeframe="1h"
    )
    out["this_process_first_s"] = time.perf_counter() - began  # GX import + runner, cold
    out["window_1"] = window(1, args.repeat)
    out["window_48"] = window(48, args.repeat)
    out["batch_64"] = batch(64, max(5, args.repeat // 5))
    out.update(million(args.bars, args.big_repeat))
    if not args.no_stack:
        out["in_task"] = {"warm": in_task(None), "cold": in_task("0")}
    harness.write("validation", {"result_format": suite.RESULT_FORMAT, **out})


if __name__ == "__main__":
    main()
