"""Benchmark: the tick -> bar rollup and the stream collector.

Why: the rollup must keep up with capture, and its cost must follow the new ticks, not the
table. Three measurements, each against a fresh database on the warehouse server:

1. **Throughput.** ``BENCH_ROLLUP_TICKS`` (default 2M) ticks of 20 instruments already in
   ``candleflow.ticks`` -> stored 1m + 5m + 1h bars by ``BarManager``, end to end, versus the
   plain-SQL baseline (``GROUP BY date_bin(...)`` with ordered ``array_agg`` for open and
   close, ``CREATE TABLE AS``) in the same run. The 1m bars of both must be equal.
2. **Incremental cost.** Rolling up 100k new ticks on an empty table versus on a table with
   ``BENCH_ROLLUP_BASE_TICKS`` (default 10M) ticks already rolled up (median of 3 each).
3. **Collector.** Delegated to ``bench_collector.py`` (replay server fast mode ->
   PostgreSQL: ticks/s and tick-to-commit latency).

Writes ``benchmarks/results/rollup.json`` (and ``collector.json``); prints markdown rows.

    .venv/bin/python benchmarks/bench_rollup.py [rollup|incremental|collector ...]
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from candleflow.db import connection, embedded, migrate
from candleflow.managers import BarManager

RESULTS = Path(__file__).parent / "results"
INSTRUMENTS = 20
BASELINE = """
CREATE TABLE bench_baseline AS
SELECT instrument_id, date_bin('1 minute', ts, timestamptz '1970-01-01') AS ts,
       (array_agg(price ORDER BY ts, seq))[1] AS open, max(price) AS high, min(price) AS low,
       (array_agg(price ORDER BY ts DESC, seq DESC))[1] AS close, sum(size) AS volume
FROM candleflow.ticks WHERE price IS NOT NULL GROUP BY 1, 2
"""
# ~2 ticks per second per instrument, ~120 per 1m bar, several trades per millisecond
GENERATE = """
INSERT INTO candleflow.ticks (instrument_id, ts, seq, price, size, source)
SELECT i.id, %(t0)s::timestamptz + g * interval '500 ms', 0,
       round((100 + 5 * sin(g / 900.0) + random())::numeric, 2), 1 + g %% 7, 'bench'
FROM candleflow.instruments i, generate_series(%(first)s, %(last)s) g
WHERE i.symbol LIKE 'BENCH:%%'
"""


def fresh_database(name: str) -> str:
    base = os.environ.get("CANDLEFLOW_BENCH_DATABASE_URL")
    if not base:
        embedded.start()
        base = embedded.url("postgres")
    server = connection.admin_url(base, "postgres")
    admin = connection.connect(server, autocommit=True)
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    url = connection.admin_url(server, name)
    conn = connection.connect(url)
    migrate.migrate(conn)
    with conn, conn.cursor() as cur:
        for i in range(INSTRUMENTS):
            cur.execute(
                "INSERT INTO candleflow.instruments (symbol, exchange, ticker)"
                " VALUES (%s, 'BENCH', %s)",
                (f"BENCH:S{i}", f"S{i}"),
            )
    conn.close()
    return url


def load(url: str, per_instrument: int, first: int = 0, t0: str = "2024-01-01") -> float:
    conn = connection.connect(url)
    began = time.perf_counter()
    with conn, conn.cursor() as cur:
        cur.execute(GENERATE, {"t0": t0, "first": first, "last": first + per_instrument - 1})
    with conn, conn.cursor() as cur:
        cur.execute("ANALYZE candleflow.ticks")
    conn.close()
    return time.perf_counter() - began


def timed_rollup(url: str, timeframes=("1m", "5m", "1h")) -> tuple[float, dict]:
    conn = connection.connect(url)
    began = time.perf_counter()
    result = BarManager(timeframes).rollup(conn, run_id="bench")
    took = time.perf_counter() - began
    conn.close()
    return took, result.built


def bench_throughput() -> dict:
    total = int(os.environ.get("BENCH_ROLLUP_TICKS", 2_000_000))
    url = fresh_database("cf_bench_rollup")
    load(url, total // INSTRUMENTS)
    conn = connection.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute("SET jit = off")
        began = time.perf_counter()
        cur.execute(BASELINE)
        baseline_s = time.perf_counter() - began
    conn.close()
    ours_s, built = timed_rollup(url)
    conn = connection.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM bench_baseline x FULL JOIN candleflow.bars b"
            " ON b.instrument_id = x.instrument_id AND b.ts = x.ts AND b.timeframe = '1m'"
            " WHERE (x.open, x.high, x.low, x.close, x.volume)"
            " IS DISTINCT FROM (b.open, b.high, b.low, b.close, b.volume)"
            " AND (b.timeframe = '1m' OR b.timeframe IS NULL)"
        )
        mismatches = cur.fetchone()[0]
    conn.close()
    return {
        "ticks": total,
        "baseline_s": round(baseline_s, 3),
        "baseline_ticks_per_s": round(total / baseline_s),
        "rollup_1m_5m_1h_s": round(ours_s, 3),
        "rollup_ticks_per_s": round(total / ours_s),
        "speedup": round(baseline_s / ours_s, 2),
        "bars_built": built,
        "mismatched_1m_bars": mismatches,
    }


def bench_incremental() -> dict:
    base = int(os.environ.get("BENCH_ROLLUP_BASE_TICKS", 10_000_000))
    new, per = 100_000, 100_000 // INSTRUMENTS

    def three_rounds(url: str, start: int) -> list[float]:
        times = []
        for r in range(3):
            load(url, per, first=start + r * per)
            times.append(timed_rollup(url)[0])
        return times

    empty_url = fresh_database("cf_bench_incr_empty")
    empty = three_rounds(empty_url, 0)
    big_url = fresh_database("cf_bench_incr_big")
    load(big_url, base // INSTRUMENTS)
    initial_s, _ = timed_rollup(big_url)
    big = three_rounds(big_url, base // INSTRUMENTS)
    return {
        "base_ticks": base,
        "new_ticks": new,
        "initial_rollup_s": round(initial_s, 3),
        "empty_s": [round(t, 3) for t in empty],
        "big_s": [round(t, 3) for t in big],
        "ratio": round(statistics.median(big) / statistics.median(empty), 3),
    }


def main(which: list[str]) -> None:
    machine = {"python": platform.python_version(), "cpus": os.cpu_count()}
    RESULTS.mkdir(exist_ok=True)
    rollup: dict = {}
    if "rollup" in which:
        rollup["throughput"] = t = bench_throughput()
        print("| ticks | baseline ticks/s | rollup 1m+5m+1h ticks/s | speedup | mismatches |")
        print(
            f"| {t['ticks']:,} | {t['baseline_ticks_per_s']:,} | {t['rollup_ticks_per_s']:,}"
            f" | {t['speedup']}x | {t['mismatched_1m_bars']} |"
        )
    if "incremental" in which:
        rollup["incremental"] = i = bench_incremental()
        print("| base ticks | 100k on empty (s) | 100k on base (s) | ratio |")
        print(
            f"| {i['base_ticks']:,} | {statistics.median(i['empty_s'])} |"
            f" {statistics.median(i['big_s'])} | {i['ratio']} |"
        )
    if rollup:
        path = RESULTS / "rollup.json"
        earlier = json.loads(path.read_text()) if path.exists() else {}
        path.write_text(json.dumps({**earlier, **rollup, **machine}, indent=2) + "\n")
    if "collector" in which:
        import bench_collector  # its own module; kept here so the "collector" argument works

        bench_collector.main()


if __name__ == "__main__":
    main(sys.argv[1:] or ["rollup", "incremental", "collector"])
