"""Real DAG runs for the DAG tests: ``airflow dags test`` with a watchlist of the test's own,
the replay server as TradingView and the test's database as the warehouse. The one home of
these helpers for every test that runs a DAG (OHLCV, lineage, metrics, connection only, no
retry, integrity): ``dags_test`` for a run that must end in a state, ``run_dag`` for one the
test judges itself, ``dags_test_args`` for one it starts and stops itself."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path


def watchlist_file(folder: Path, symbols) -> Path:
    """A TradingView watchlist of ``symbols`` at 1h."""
    watchlist = folder / "watchlist.toml"
    watchlist.write_text(
        f'provider = "tradingview"\nsymbols = {json.dumps(list(symbols))}\n[timeframes.1h]\n'
    )
    return watchlist


def dag_env(airflow_env: dict, db_url: str, folder: Path, tv_url: str, symbols, **extra) -> dict:
    """Airflow's environment for a run over ``symbols`` (1h bars), plus ``extra`` variables."""
    env = dict(
        airflow_env,
        CANDLEFLOW_WATCHLIST=str(watchlist_file(folder, symbols)),
        CANDLEFLOW_TRADINGVIEW_URL=tv_url,
        CANDLEFLOW_DATABASE_URL=db_url,
    )
    for key in [k for k in env if k.startswith(("AIRFLOW__OPENLINEAGE__", "AIRFLOW__METRICS__"))]:
        del env[key]  # only what the test sets
    env.update(extra)
    return env


def openlineage_file(path: Path, **options: str) -> dict[str, str]:
    """The variables that point Airflow's OpenLineage provider at a JSON-lines file."""
    transport = {"type": "file", "log_file_path": str(path), "append": True}
    return {"AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport), **options}


def airflow(airflow_bin: str, env: dict, *args: str) -> str:
    """An ``airflow`` command that must succeed; its output."""
    result = subprocess.run(
        [airflow_bin, *args], env=env, capture_output=True, text=True, timeout=600
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    return output


def dags_test_args(
    airflow_bin: str, dag_id: str, logical_date: str | None = None, conf=None
) -> list[str]:
    """The ``airflow dags test`` command of one run of ``dag_id`` (at now without a date)."""
    args = [airflow_bin, "dags", "test", dag_id, *([logical_date] if logical_date else [])]
    if conf is not None:
        args += ["--conf", json.dumps(conf)]
    return args


def run_dag(
    airflow_bin: str,
    env: dict,
    dag_id: str,
    logical_date: str | None = None,
    conf=None,
    timeout: float = 800,
) -> subprocess.CompletedProcess:
    """One ``airflow dags test`` run, whatever its outcome: the caller judges it."""
    args = dags_test_args(airflow_bin, dag_id, logical_date, conf)
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)


def dags_test(
    airflow_bin: str,
    env: dict,
    dag_id: str,
    logical_date: str | None = None,
    conf=None,
    state="success",
) -> str:
    """``airflow dags test`` of one run, which must end in ``state``; its output."""
    result = run_dag(airflow_bin, env, dag_id, logical_date, conf)
    out = result.stdout + result.stderr
    assert f"state={state}" in out, out[-6000:]
    return out


def events(path: Path) -> list[dict]:
    """Every OpenLineage event the file transport wrote, in order."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def task_events(path: Path, job: str, event_type: str) -> list[dict]:
    return [e for e in events(path) if e["job"]["name"] == job and e["eventType"] == event_type]


def seed_ticks(db_url: str, folder: Path) -> int:
    """A minute of trades of BINANCE:ETHUSDT ten minutes ago, imported as a tick file (12 ticks).

    A 24/7 market: an equity's minute ten minutes ago is outside its session on evenings and
    weekends, and the roll-up (rightly) builds no regular-session bar from it.
    """
    from candleflow.services.ticks.imports import import_ticks

    minute = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) - dt.timedelta(minutes=10)
    rows = [
        f"{(minute + dt.timedelta(seconds=s)).isoformat()},{100 + s / 10},1"
        for s in range(0, 60, 5)
    ]
    ticks = folder / "ticks.csv"
    ticks.write_text("ts,price,size\n" + "\n".join(rows) + "\n")
    return import_ticks(ticks, "BINANCE:ETHUSDT", run_id="seed", url=db_url).inserted
