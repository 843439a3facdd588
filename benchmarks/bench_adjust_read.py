"""Benchmark: adjusted reads (``query.bars(adjustment=...)``) against raw reads of the same rows.

Why: bars are stored raw and every read applies the instrument's corporate actions, so the
default read (split-adjusted) pays for adjustment on every call; it must stay close to the
raw read it is built on. Two reads, each beside its raw read in the same run:

- **10 years of daily bars** of one symbol (2,520 sessions, 40 actions: quarterly dividends
  and three splits), split-adjusted vs raw. Target <= 1.2x.
- **1 year of 1m bars** of one symbol (252 sessions x 390 minutes = 98,280 bars, 4 dividends
  and a split inside the year), total-return adjusted vs raw. Target <= 1.5x.

Both through ``query.bars`` to pandas (pooled read-only ADBC connection, warm), best of
``CANDLEFLOW_BENCH_REPEAT`` (default 30) round-robin runs. Writes
``benchmarks/results/adjust_read.json``. Run: ``.venv/bin/python benchmarks/bench_adjust_read.py``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import harness
import numpy as np
import pandas as pd

from candleflow import query
from candleflow.db import actions, connection
from candleflow.db import bars as bar_writer

DB = "cf_bench_adjust_read"
REPEAT = int(os.environ.get("CANDLEFLOW_BENCH_REPEAT", "30"))
NY = "America/New_York"


def _bars(ts: pd.DatetimeIndex, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, len(ts))))
    open_ = np.concatenate([[100.0], close[:-1]])
    return pd.DataFrame(
        {
            "ts": ts.astype("datetime64[us, UTC]"),
            "open": open_,
            "high": np.maximum(open_, close) * 1.001,
            "low": np.minimum(open_, close) * 0.999,
            "close": close,
            "volume": rng.integers(1, 10_000, len(ts)).astype("float64"),
        }
    )


def _sessions(start: str, count: int) -> pd.DatetimeIndex:
    days = pd.bdate_range(start, periods=count)
    return (days + pd.Timedelta(hours=9, minutes=30)).tz_localize(NY).tz_convert("UTC")


def _actions(days: pd.DatetimeIndex, splits: int) -> list[dict]:
    """A dividend every 63 sessions, and ``splits`` 2:1 splits spread over the span."""
    rows = [
        {"ex_date": d.date(), "kind": "dividend", "amount": 0.2, "reference_price": 100.0}
        for d in days[30::63]
    ]
    for d in days[45 :: max(1, len(days) // max(splits, 1))][:splits]:
        rows.append({"ex_date": d.date(), "kind": "split", "ratio": 2.0})
    return rows


def setup(url: str) -> dict:
    daily = _sessions("2014-01-02", 2520)
    year = _sessions("2023-01-03", 252)
    minutes = pd.DatetimeIndex(
        np.concatenate([day + pd.to_timedelta(np.arange(390), unit="min") for day in year])
    )
    with connection.transaction(url) as conn, conn.cursor() as cur:
        for symbol in ("NASDAQ:DAILY", "NASDAQ:MINUTE"):
            exchange, ticker = symbol.split(":")
            cur.execute(
                "INSERT INTO candleflow.instruments (symbol, exchange, ticker, timezone, session)"
                " VALUES (%s, %s, %s, %s, '0930-1600') RETURNING id",
                (symbol, exchange, ticker, NY),
            )
        cur.execute("SELECT id FROM candleflow.instruments ORDER BY id")
        daily_id, minute_id = (row[0] for row in cur.fetchall())
        bar_writer.upsert_bars(conn, daily_id, "1d", _bars(daily, 1), run_id="bench")
        bar_writer.upsert_bars(conn, minute_id, "1m", _bars(minutes, 2), run_id="bench")
        actions.upsert_actions(conn, daily_id, _actions(daily, 3), source="bench", run_id="b")
        actions.upsert_actions(conn, minute_id, _actions(year, 1), source="bench", run_id="b")
    conn = connection.connect(url, autocommit=True)
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE candleflow.bars")
    conn.close()
    return {
        "daily": ("NASDAQ:DAILY", "1d", daily[0], daily[-1] + pd.Timedelta(days=1)),
        "minute": ("NASDAQ:MINUTE", "1m", minutes[0], minutes[-1] + pd.Timedelta(minutes=1)),
    }


def best(methods: dict) -> dict[str, tuple[float, int]]:
    """Best seconds and rows of each method, round-robin (the machine's load drifts)."""
    for fn in methods.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in methods}
    rows = {}
    for _ in range(REPEAT):
        for name, fn in methods.items():
            began = time.perf_counter()
            rows[name] = len(fn())
            times[name].append(time.perf_counter() - began)
    return {name: (min(t), rows[name]) for name, t in times.items()}


def main() -> None:
    url = harness.fresh_database(DB)
    try:
        reads = setup(url)
        out = {}
        for key, mode, target in (("daily", "splits", 1.2), ("minute", "total_return", 1.5)):
            symbol, tf, start, end = reads[key]
            got = best(
                {
                    "raw": lambda s=symbol, t=tf, a=start, b=end: query.bars(
                        s, t, a, b, adjustment="raw", url=url
                    ),
                    mode: lambda s=symbol, t=tf, a=start, b=end, m=mode: query.bars(
                        s, t, a, b, adjustment=m, url=url
                    ),
                }
            )
            (raw_s, rows), (adj_s, _) = got["raw"], got[mode]
            out[key] = {
                "rows": rows, "adjustment": mode, "raw_ms": round(raw_s * 1000, 2),
                "adjusted_ms": round(adj_s * 1000, 2), "ratio": round(adj_s / raw_s, 3),
                "target": target,
            }  # fmt: skip
            print(f"{key}: {rows} rows, raw {raw_s * 1000:.2f} ms, {mode} {adj_s * 1000:.2f} ms")
    finally:
        from candleflow.query import pool

        pool.POOL.close()  # its sessions would keep the database from being dropped
        harness.drop_database(DB)
    harness.write("adjust_read", {"repeat": REPEAT, **out})


if __name__ == "__main__":
    main()
