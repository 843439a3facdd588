"""Run one soak: start the stack, load and inject faults, settle, check, report.

``soak(minutes, symbols, seed)``: a replay server (any symbol, quotes from its ``market``
peer whatever the fault) and a ``candleflow up`` stack whose watchlist has ``symbols``
invented symbols (60 % equities, 40 % crypto) at 1m (a run a minute) and 1h; ``ohlcv_1m``,
``ohlcv_1h`` and ``ticks_capture`` unpaused, a backfill of ``ohlcv_1h_history`` over two
months. Faults follow the seeded schedule for ``minutes``; then the harness waits for the
backfill and for a successful 1m run that began after the last fault, pauses every DAG,
stops the running tick capture the way Airflow does (the run marked failed: SIGTERM, the
collector flushes), waits for running tasks to end, and checks (``oracle``, ``watch``).
"""

from __future__ import annotations

import collections
import datetime as dt
import threading
import time
import urllib.parse

from candleflow.testing.replay_server import ReplayServer
from candleflow.testing.soak import faults, oracle, stack, watch
from candleflow.testing.soak.report import Report

DAGS = ("ohlcv_1m", "ohlcv_1h", "ohlcv_1h_history", "ticks_capture", "bars_rollup")
BACKFILL = ("2024-03-01T00:00:00Z", "2024-04-01T00:00:00Z")  # logical dates: March and April
TIS = "/api/v2/dags/~/dagRuns/~/taskInstances"
SETTLE_S = 600.0
SAMPLE_S = 20.0


def universe(n: int) -> list[str]:
    equities = [f"{('NASDAQ', 'NYSE')[i % 2]}:S{i:04d}" for i in range(n * 3 // 5)]
    return equities + [f"BINANCE:C{i:04d}USDT" for i in range(n - len(equities))]


def watchlist(symbols: list[str]) -> str:
    quoted = ", ".join(f'"{s}"' for s in symbols)
    frames = '[timeframes.1m]\nevery = "1m"\nhistory = false\n[timeframes.1h]\n'
    return f"symbols = [{quoted}]\n{frames}"


def _pages(cf: stack.Stack, path: str, key: str) -> list[dict]:
    out, offset = [], 0
    while True:
        sep = "&" if "?" in path else "?"
        page = cf.patiently(cf.api, f"{path}{sep}limit=100&offset={offset}")[key]
        out += page
        if len(page) < 100:
            return out
        offset += 100


def _settle(
    cf: stack.Stack,
    backfill_id: int | None,
    since: dt.datetime,
    log,
    collector_killed: dt.datetime | None = None,
) -> None:
    """Wait for the backfill, a successful 1m run that began after ``since`` and, after a
    killed collector (``collector_killed``: the last kill), the capture's next try: stopping
    the soak before it would record a fault as not recovered that was only not given time."""
    deadline = time.monotonic() + SETTLE_S
    while time.monotonic() < deadline:
        done = (
            backfill_id is None
            or cf.patiently(cf.api, f"/api/v2/backfills/{backfill_id}")["completed_at"]
        )
        runs = _pages(cf, "/api/v2/dags/ohlcv_1m/dagRuns?state=success", "dag_runs")
        fresh = [r for r in runs if r["start_date"] and report_ts(r["start_date"]) > since]
        if done and fresh and _captured_since(cf, collector_killed):
            return
        time.sleep(5)
    log(f"not settled within {SETTLE_S:.0f}s: checking what there is")


def _captured_since(cf: stack.Stack, killed: dt.datetime | None) -> bool:
    """True when a try of the tick capture started after ``killed`` (or nothing was)."""
    if killed is None:
        return True
    path = f"/api/v2/dags/{faults.TICKS_DAG}/dagRuns/~/taskInstances"
    tis = _pages(cf, path, "task_instances")
    return any(t["start_date"] and report_ts(t["start_date"]) > killed for t in tis)


def report_ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _stop(cf: stack.Stack) -> set[str]:
    """Pause every DAG, stop the tick capture, wait for running tasks; the ids it stopped."""
    for dag_id in DAGS:
        cf.patiently(cf.unpause, dag_id, True)
    stopped = set()
    for run in _pages(cf, f"/api/v2/dags/{faults.TICKS_DAG}/dagRuns?state=running", "dag_runs"):
        path = f"/api/v2/dags/{faults.TICKS_DAG}/dagRuns/{run['dag_run_id']}"
        stopped |= {t["id"] for t in cf.api(f"{path}/taskInstances")["task_instances"]}
        cf.post(path, {"state": "failed"}, method="PATCH")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        running = _pages(cf, f"{TIS}?state=running", "task_instances")
        if not running and not stack.task_pids(cf.sessions):
            break
        time.sleep(3)
    time.sleep(10)  # killed tasks' supervisors report and exit
    return stopped


def soak(
    minutes: float,
    symbols: int = 200,
    seed: int = 7,
    kinds=faults.KINDS,
    backfill: tuple[str, str] = BACKFILL,
    log=print,
) -> Report:
    names = universe(symbols)
    server = ReplayServer(seed=seed, any_symbol=True, tick_interval=2.0)
    server.state.market_quotes = True
    with server, stack.running(watchlist(names), server.url) as cf:
        cf.wait_for_dags(set(DAGS))
        url = cf.warehouse_url()
        base_connections = watch.connections(url)
        for dag_id in ("ohlcv_1m", "ohlcv_1h", "ticks_capture"):
            cf.unpause(dag_id)
        body = {"dag_id": "ohlcv_1h_history", "from_date": backfill[0], "to_date": backfill[1]}
        created = cf.post("/api/v2/backfills", dict(body, max_active_runs=2))
        cf.unpause("ohlcv_1h_history")
        _settle(cf, None, dt.datetime.now(dt.UTC), log)  # warm-up: the first 1m run is in
        seen = watch.Watch()
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.wait(SAMPLE_S):
                try:
                    seen.sample(cf.components())
                except (OSError, ValueError) as exc:  # one missed sample, not a failed soak
                    log(f"RSS sample missed: {exc}")

        threading.Thread(target=sample, daemon=True).start()
        seconds = minutes * 60
        plan = faults.schedule(seed, seconds, kinds, every=min(36.0, seconds / len(kinds)))
        injector = faults.Injector(cf, server)
        log(f"stack up; {len(plan)} faults over {minutes:g} min")
        faults.run_schedule(injector, plan, time.monotonic(), log)
        kills = [f.began for f in injector.faults if f.kind == "kill:collector" and not f.skipped]
        _settle(cf, created["id"], injector.faults[-1].ended, log, max(kills, default=None))
        stopped = _stop(cf)
        sampling.set()
        seen.connections = (base_connections, watch.connections(url))
        leaks = seen.problems() + watch.orphans(cf)
        tis = _pages(cf, TIS, "task_instances")
        runs, bars = {}, oracle.Count()
        for dag_id in ("ohlcv_1m", "ohlcv_1h", "ohlcv_1h_history"):
            dag_runs = _pages(cf, f"/api/v2/dags/{dag_id}/dagRuns", "dag_runs")
            runs[dag_id] = collections.Counter(r["state"] for r in dag_runs)
            tf = dag_id.split("_")[1]
            for window in oracle.spans(dag_runs):
                bars.add(oracle.bars(url, names, tf, window, seed=seed))
        runs[faults.TICKS_DAG] = collections.Counter(
            r["state"] for r in _pages(cf, f"/api/v2/dags/{faults.TICKS_DAG}/dagRuns", "dag_runs")
        )
        tries = []  # every try of the capture: a task instance shows its latest only
        for run in _pages(cf, f"/api/v2/dags/{faults.TICKS_DAG}/dagRuns", "dag_runs"):
            run_id = urllib.parse.quote(run["dag_run_id"], safe="")
            path = f"/api/v2/dags/{faults.TICKS_DAG}/dagRuns/{run_id}/taskInstances"
            tries += cf.patiently(cf.api, f"{path}/capture_ticks/tries")["task_instances"]
        markets = dict(getattr(server.state, "markets", {}))
        crypto = [s for s in names if s.startswith("BINANCE:")]
        return Report(
            minutes=minutes,
            faults=injector.faults,
            tis=tis,
            runs=runs,
            bars=bars,
            ticks=oracle.ticks(url, markets),
            rollup=oracle.rollup(url, markets, crypto),
            audit=oracle.audit_mismatches(url),
            leaks=leaks,
            rss=seen.growth(),
            stopped_by_soak=stopped,
            tries=tries,
        )
