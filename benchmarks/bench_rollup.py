"""Benchmark: the tick -> bar rollup and the stream collector.

Why: the rollup must keep up with capture, and its cost must follow the new ticks, not the
table. Three measurements, each against a fresh database on the warehouse server:

1. **Throughput.** ``BENCH_ROLLUP_TICKS`` (default 2M) ticks of 20 instruments already in
   ``candleflow.ticks`` -> stored 1m + 5m + 1h bars by ``BarManager``, end to end, versus the
   plain-SQL baseline (``GROUP BY date_bin(...)`` with ordered ``array_agg`` for open and
   close, ``CREATE TABLE AS``) in the same run. The 1m bars of both must be equal.
2. **Incremental cost.** Rolling up 100k new ticks on an empty table versus on a table with
   ``BENCH_ROLLUP_BASE_TICKS`` (default 10M) ticks already rolled up (median of 3 each).
3. **A day of history inside a year.** A year of ticks of one instrument
   (``BENCH_ROLLUP_YEAR_TICKS``, default 2M) rolled up into 1m/5m/15m/1h/1d bars but for one
   day in its middle; then that day is imported (``db.ticks.insert_ticks``) and rolled up,
   against the same day imported into an empty table (median of ``BENCH_ROLLUP_ROUNDS``,
   default 5, the rounds of the two tables alternating; each round deletes the day's ticks and
   bars and vacuums first, untimed). The rebuild must follow the day, not the year: target
   <= 1.5x.
4. **Collector.** Delegated to ``bench_collector.py`` (replay server fast mode ->
   PostgreSQL: ticks/s and tick-to-commit latency).

Writes ``benchmarks/results/rollup.json`` (and ``collector.json``); prints markdown rows.

    .venv/bin/python benchmarks/bench_rollup.py [rollup|incremental|reimport|collector ...]
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from psycopg2 import sql

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
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
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


YEAR = """
INSERT INTO candleflow.ticks (instrument_id, ts, seq, price, size, source)
SELECT %(iid)s, t, 0, round((100 + 5 * sin(g / 900.0) + random())::numeric, 2), 1 + g %% 7, 'bench'
FROM generate_series(0, %(n)s - 1) g,
     LATERAL (SELECT %(t0)s::timestamptz + g * %(step)s::interval AS t) x
WHERE NOT (t >= %(day)s::timestamptz AND t < %(day)s::timestamptz + interval '1 day')
"""


def _day_frame(day, step_s: float):
    import numpy as np
    import pandas as pd

    n = int(86_400 / step_s)
    ts = pd.Timestamp(day) + pd.to_timedelta(np.arange(n) * step_s, unit="s")
    rng = np.random.default_rng(7)
    return pd.DataFrame(
        {
            "ts": pd.Series(ts).dt.as_unit("us").dt.floor("us"),
            "seq": 0,
            "price": np.round(100 + 5 * np.sin(np.arange(n) / 900) + rng.random(n), 2),
            "size": 1.0 + np.arange(n) % 7,
            "day_volume": np.nan,
            "bid": np.nan,
            "ask": np.nan,
        }
    )


def _day_round(url: str, iid: int, frame, day, run: str) -> tuple[float, float]:
    """(import seconds, rollup seconds) of one round: the day's ticks and bars are deleted
    (the day as it was before its import), then ``frame`` is imported and rolled up."""
    from candleflow.db.ticks import insert_ticks

    conn = connection.connect(url)
    try:
        with conn, conn.cursor() as cur:
            params = {"iid": iid, "day": day}
            for table in ("ticks", "bars"):
                cur.execute(
                    sql.SQL(
                        "DELETE FROM {} WHERE instrument_id = %(iid)s AND ts >= %(day)s"
                        " AND ts < %(day)s::timestamptz + interval '1 day'"
                    ).format(sql.Identifier("candleflow", table)),
                    params,
                )
        _vacuum(url)  # the deleted rows gone, as in a warehouse whose autovacuum keeps up
        began = time.perf_counter()
        with conn:
            insert_ticks(conn, iid, frame, run_id=run, source="bench")
        imported = time.perf_counter() - began
        began = time.perf_counter()
        BarManager().rollup(conn, run_id=run, instrument_ids=[iid])
        return imported, time.perf_counter() - began
    finally:
        conn.close()


def _vacuum(url: str) -> None:
    conn = connection.connect(url, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "VACUUM (ANALYZE) candleflow.ticks, candleflow.bars, candleflow.rollup_dirty"
            )
    finally:
        conn.close()


def bench_reimport() -> dict:
    """A day of history imported inside a rolled-up year vs into an empty table."""
    import datetime as dt

    year_ticks = int(os.environ.get("BENCH_ROLLUP_YEAR_TICKS", 2_000_000))
    rounds = int(os.environ.get("BENCH_ROLLUP_ROUNDS", 5))
    t0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    step_s = 366 * 86_400 / year_ticks
    day = t0 + dt.timedelta(days=182)
    frame = _day_frame(day, step_s)

    empty_url = fresh_database("cf_bench_reimport_empty")
    year_url = fresh_database("cf_bench_reimport_year")
    conn = connection.connect(year_url)
    began = time.perf_counter()
    with conn, conn.cursor() as cur:
        cur.execute(
            YEAR,
            {"iid": 1, "n": year_ticks, "t0": t0, "step": dt.timedelta(seconds=step_s), "day": day},
        )
        stored = cur.rowcount
    load_s = time.perf_counter() - began
    began = time.perf_counter()
    built = BarManager().rollup(conn, run_id="year").built
    year_rollup_s = time.perf_counter() - began
    conn.close()
    # rounds alternate between the two tables, so both see the same load on a shared machine
    empty_imports, empty_rollups, year_imports, year_rollups = [], [], [], []
    for r in range(rounds):
        imported, rolled = _day_round(empty_url, 1, frame, day, f"empty-{r}")
        empty_imports.append(imported)
        empty_rollups.append(rolled)
        imported, rolled = _day_round(year_url, 1, frame, day, f"year-{r}")
        year_imports.append(imported)
        year_rollups.append(rolled)
    rollup_ratio = statistics.median(year_rollups) / statistics.median(empty_rollups)
    total = [a + b for a, b in zip(year_imports, year_rollups, strict=True)]
    empty_total = [a + b for a, b in zip(empty_imports, empty_rollups, strict=True)]
    return {
        "year_ticks": stored,
        "day_ticks": len(frame),
        "year_load_s": round(load_s, 2),
        "year_rollup_s": round(year_rollup_s, 2),
        "year_bars_built": built,
        "empty_import_s": [round(t, 3) for t in empty_imports],
        "empty_rollup_s": [round(t, 3) for t in empty_rollups],
        "year_import_s": [round(t, 3) for t in year_imports],
        "year_rollup_day_s": [round(t, 3) for t in year_rollups],
        "rollup_ratio": round(rollup_ratio, 3),
        "total_ratio": round(statistics.median(total) / statistics.median(empty_total), 3),
        "load_average": os.getloadavg()[0],
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
    if "reimport" in which:
        rollup["reimport"] = d = bench_reimport()
        print("| year ticks | day ticks | day rollup in empty (s) | in the year (s) | ratio |")
        print(
            f"| {d['year_ticks']:,} | {d['day_ticks']:,} |"
            f" {statistics.median(d['empty_rollup_s'])} |"
            f" {statistics.median(d['year_rollup_day_s'])} | {d['rollup_ratio']} |"
        )
    if rollup:
        path = RESULTS / "rollup.json"
        earlier = json.loads(path.read_text()) if path.exists() else {}
        path.write_text(json.dumps({**earlier, **rollup, **machine}, indent=2) + "\n")
    if "collector" in which:
        import bench_collector  # its own module; kept here so the "collector" argument works

        bench_collector.main()


if __name__ == "__main__":
    main(sys.argv[1:] or ["rollup", "incremental", "reimport", "collector"])
