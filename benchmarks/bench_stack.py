"""The real ``make up`` stack (``candleflow up``, LocalExecutor) with the replay server as
TradingView, driven through Airflow's REST API the way a user's UI clicks would.

Why: what users wait for is a DAG run, not a function call; Airflow's start-up, scheduling
and task overhead used to cost 30 to 30,000 times the data movement. Scenarios, each on a
fresh stack (own home, embedded server, metadata database):

- ``hourly_500`` / ``hourly_5000``: an ``ohlcv_1h`` run of 500 (then 5,000) symbols for one
  closed hour (every symbol has one bar closing in it), from the run's start to its success.
  The DAG is unpaused first; its own scheduled run (the last real hour, which also resolves
  every instrument) is waited for, then the measured run is triggered. Anchor: the
  one-process ``candleflow sync`` of the same work (``bench_sync``).
- ``backfill_100``: a REST backfill of ``ohlcv_1h_history`` for 100 crypto pairs x 2025
  (12 monthly runs, 876,000 bars), from its creation to its last run done. Anchor: one
  ``candleflow sync`` process loading the same 100 x 2025 into a fresh database.
- ``latency``: on the same stack, ``ohlcv_1h`` scheduled for real: from the close of the
  hour's bars to their load being committed (``load_audit.finished_at``) and to the run's
  success. Waits for the next top of the hour, at most ``CANDLEFLOW_BENCH_LATENCY_WAIT``
  minutes (default 65; 0 skips it).

Writes ``benchmarks/results/stack.json``. Run: ``.venv/bin/python benchmarks/bench_stack.py``
(about 20 minutes plus the wait; ``CANDLEFLOW_BENCH_STACK=hourly_500,backfill_100`` to pick).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import harness
import stack

from candleflow.db import connection
from candleflow.testing import ReplayServer

HOUR = dt.timedelta(hours=1)
WINDOW = (dt.datetime(2024, 3, 5, 15, tzinfo=dt.UTC), dt.datetime(2024, 3, 5, 16, tzinfo=dt.UTC))
YEAR = (dt.datetime(2025, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
WAIT = float(os.environ.get("CANDLEFLOW_BENCH_LATENCY_WAIT", "65"))
PICK = os.environ.get("CANDLEFLOW_BENCH_STACK", "hourly_500,hourly_5000,backfill_100,latency")
SIZES = [int(n) for n in os.environ.get("CANDLEFLOW_BENCH_HOURLY_SIZES", "500,5000").split(",")]
HISTORY_SYMBOLS = int(os.environ.get("CANDLEFLOW_BENCH_HISTORY_SYMBOLS", "100"))


def watchlist(symbols: list[str], history: bool) -> str:
    quoted = ", ".join(f'"{s}"' for s in symbols)
    months = '"1mo"' if history else "false"
    return f"symbols = [{quoted}]\n[timeframes.1h]\nhistory = {months}\n"


def _ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _seconds(run: dict) -> float:
    return (_ts(run["end_date"]) - _ts(run["start_date"])).total_seconds()


def _latest_run(cf: stack.Stack, dag_id: str) -> dict | None:
    runs = cf.api(f"/api/v2/dags/{dag_id}/dagRuns?order_by=-run_after&limit=1")["dag_runs"]
    return runs[0] if runs else None


def _first_scheduled(cf: stack.Stack, dag_id: str, timeout: float = 1800) -> dict:
    """Unpause and wait for the run the scheduler creates at once (the last due interval)."""
    cf.unpause(dag_id)
    deadline = time.monotonic() + timeout
    while (run := _latest_run(cf, dag_id)) is None:
        if time.monotonic() > deadline:
            raise SystemExit(f"{dag_id}: no scheduled run within {timeout}s")
        time.sleep(1)
    return stack.wait_run(cf, dag_id, run["dag_run_id"], timeout)


def audits(url: str, run_id: str) -> dict:
    with connection.transaction(url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(*), count(*) FILTER (WHERE outcome = 'success'),"
            " coalesce(sum(rows_inserted), 0), max(finished_at)"
            " FROM candleflow.load_audit WHERE run_id LIKE %s",
            (run_id,),
        )
        loads, ok, inserted, last = cur.fetchone()
    return {"loads": loads, "successful": ok, "inserted": int(inserted), "last_finished": last}


def hourly(n: int) -> dict:
    symbols = harness.universe(n)
    with (
        ReplayServer(seed=1, any_symbol=True) as srv,
        stack.running(watchlist(symbols, False), srv.url) as cf,
    ):
        cf.wait_for_dags({"ohlcv_1h"})
        warmup = _first_scheduled(cf, "ohlcv_1h")
        started = time.perf_counter()
        run = cf.post(
            "/api/v2/dags/ohlcv_1h/dagRuns",
            {
                "dag_run_id": f"bench_{n}",
                "logical_date": WINDOW[0].isoformat(),
                "data_interval_start": WINDOW[0].isoformat(),
                "data_interval_end": WINDOW[1].isoformat(),
            },
        )
        done = stack.wait_run(cf, "ohlcv_1h", run["dag_run_id"])
        wall = time.perf_counter() - started
        loads = audits(cf.warehouse_url(), f"bench_{n}")
    return {
        "symbols": n,
        "state": done["state"],
        "run_s": round(_seconds(done), 2),
        "trigger_to_success_s": round(wall, 2),
        "warmup_run_s": round(_seconds(warmup), 2),
        "warmup_state": warmup["state"],
        **{k: v for k, v in loads.items() if k != "last_finished"},
        "load_average": harness.machine()["load_average"],
    }


def backfill_and_latency(scenarios: set[str]) -> dict:
    symbols = [f"BINANCE:H{i:03d}USDT" for i in range(HISTORY_SYMBOLS)]
    out: dict = {}
    with ReplayServer(seed=1, any_symbol=True) as srv:
        if "backfill_100" in scenarios:
            out["anchor"] = _one_process(symbols, srv.url)
        with stack.running(watchlist(symbols, True), srv.url) as cf:
            cf.wait_for_dags({"ohlcv_1h", "ohlcv_1h_history"})
            if "backfill_100" in scenarios:
                out["backfill_100"] = _backfill(cf)
            if "latency" in scenarios and WAIT > 0:
                out["latency"] = _latency(cf)
    return out


def _backfill(cf: stack.Stack) -> dict:
    warmup = _first_scheduled(cf, "ohlcv_1h_history")  # the last closed month; resolves all
    started = time.perf_counter()
    body = {
        "dag_id": "ohlcv_1h_history",
        "from_date": YEAR[0].isoformat(),
        "to_date": (YEAR[1] - dt.timedelta(days=31)).isoformat(),  # 1 Dec 2025: 12 runs
        "max_active_runs": 12,
    }
    backfill = cf.post("/api/v2/backfills", body)
    while not (state := cf.api(f"/api/v2/backfills/{backfill['id']}"))["completed_at"]:
        time.sleep(1)
    wall = time.perf_counter() - started
    runs = cf.api("/api/v2/dags/ohlcv_1h_history/dagRuns?limit=100&run_type=backfill")
    url = cf.warehouse_url()
    with connection.transaction(url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM candleflow.bars WHERE timeframe = '1h' AND ts >= %s AND ts < %s",
            (YEAR[0] - HOUR, YEAR[1]),
        )
        (bars,) = cur.fetchone()
    created, completed = _ts(state["created_at"]), _ts(state["completed_at"])
    return {
        "runs": len(runs["dag_runs"]),
        "states": sorted({r["state"] for r in runs["dag_runs"]}),
        "creation_to_done_s": round((completed - created).total_seconds(), 2),
        "wall_s": round(wall, 2),
        "bars_2025": bars,
        "warmup_run_s": round(_seconds(warmup), 2),
        "load_average": harness.machine()["load_average"],
    }


def _one_process(symbols: list[str], tv_url: str) -> dict:
    url = harness.fresh_database("cf_bench_stack_anchor")
    env = dict(os.environ, CANDLEFLOW_DATABASE_URL=url, CANDLEFLOW_TRADINGVIEW_URL=tv_url)
    args = [str(harness.BIN / "candleflow"), "sync", *symbols, "-t", "1h"]
    try:
        window = ["--start", YEAR[0].isoformat(), "--end", YEAR[1].isoformat()]
        wall, _ = harness.run([*args, *window], env)
        loads = audits(url, "%")
    finally:
        harness.drop_database("cf_bench_stack_anchor")
    return {"sync_s": round(wall, 2), "inserted": loads["inserted"]}


def _latency(cf: stack.Stack) -> dict:
    first = _first_scheduled(cf, "ohlcv_1h")
    close = _ts(first["data_interval_end"]) + HOUR  # the next interval's end: a bar closes
    wait = (close - dt.datetime.now(dt.UTC)).total_seconds()
    if wait > WAIT * 60:
        return {"skipped": f"next top of the hour in {wait / 60:.0f} min > {WAIT:.0f} min"}
    deadline = time.monotonic() + wait + 900
    while True:
        run = _latest_run(cf, "ohlcv_1h")
        if run and _ts(run["data_interval_end"]) == close and run["state"] in ("success", "failed"):
            break
        if time.monotonic() > deadline:
            raise SystemExit("the scheduled ohlcv_1h run did not finish")
        time.sleep(2)
    loads = audits(cf.warehouse_url(), run["dag_run_id"])
    return {
        "bar_close": close.isoformat(),
        "state": run["state"],
        "close_to_committed_s": round((loads["last_finished"] - close).total_seconds(), 2),
        "close_to_run_success_s": round((_ts(run["end_date"]) - close).total_seconds(), 2),
        "run_s": round(_seconds(run), 2),
        "inserted": loads["inserted"],
        "load_average": harness.machine()["load_average"],
    }


def main() -> None:
    picked = set(PICK.split(","))
    result: dict = harness.previous("stack")  # a picked subset updates the earlier figures
    for n in SIZES:
        if f"hourly_{n}" in picked:
            result[f"hourly_{n}"] = hourly(n)
    if picked & {"backfill_100", "latency"}:
        result.update(backfill_and_latency(picked))
    harness.write("stack", result)


if __name__ == "__main__":
    main()
