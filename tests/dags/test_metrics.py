"""Candleflow's metrics of real DAG runs, received by a UDP listener standing in for StatsD.

Airflow's own ``[metrics] statsd_on`` points every task process at the listener; the tests
sum what it received per metric and compare with what the runs left in the warehouse
(``load_audit``, ``rejected_bars``, ``ticks``, ``bars``, ``freshness_checks``). Airflow's
StatsD client is the ``statsd`` package (``apache-airflow[statsd]``); without it Airflow
sends nothing, so the tests skip.
"""

from __future__ import annotations

import socket
import threading
from collections import defaultdict

import pytest

from candleflow.testing import ReplayServer
from tests.support.dag_runs import dag_env, dags_test, seed_ticks

pytest.importorskip("statsd", reason="Airflow's StatsD client needs the statsd package")

SYMBOLS = ("NASDAQ:AAPL", "BINANCE:BTCUSDT")
WINDOW = {"start": "2024-03-04T00:00:00+00:00", "end": "2024-03-05T00:00:00+00:00"}
TAGS = "tradingview.1h"  # the provider and timeframe a plain StatsD name ends with

pytestmark = pytest.mark.timeout(900)


class StatsdListener:
    """A UDP socket on the loopback that keeps every StatsD line it receives."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.lines: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)

    @property
    def env(self) -> dict[str, str]:
        return {
            "AIRFLOW__METRICS__STATSD_ON": "True",
            "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
            "AIRFLOW__METRICS__STATSD_PORT": str(self.sock.getsockname()[1]),
            "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
        }

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65535)
            except TimeoutError:
                continue
            self.lines.extend(data.decode().splitlines())

    def __enter__(self) -> StatsdListener:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()

    def take(self) -> dict[tuple[str, str], list[float]]:
        """(name, type) -> values received since the last take (after a short drain)."""
        threading.Event().wait(0.5)
        lines, self.lines = self.lines, []
        out: dict[tuple[str, str], list[float]] = defaultdict(list)
        for line in lines:
            name, _, rest = line.partition(":")
            value, _, kind = rest.partition("|")
            out[(name, kind.split("|")[0])].append(float(value))
        return out


def rows(db, query: str) -> list[tuple]:
    with db.cursor() as cur:
        cur.execute(query)
        return cur.fetchall()


def test_a_sync_run_sends_its_bar_counters_and_timings_and_the_check_its_lag(
    airflow_env, airflow_bin, db_url, db, tmp_path
):
    with StatsdListener() as statsd, ReplayServer(seed=5, scenario="bad_bars") as srv:
        env = dag_env(airflow_env, db_url, tmp_path, srv.url, SYMBOLS, **statsd.env)
        conf = WINDOW | {"reject_threshold": 1.0}  # the bad rows are rejected, the rest load
        dags_test(airflow_bin, env, "ohlcv_1h", "2024-03-05T12:00:00+00:00", conf=conf)
        sync = statsd.take()
        dags_test(airflow_bin, env, "freshness_check", conf={"on_stale": "warn"})
        check = statsd.take()

    ((fetched, inserted, updated, rejected),) = rows(
        db,
        "SELECT sum(rows_fetched), sum(rows_inserted), sum(rows_updated), sum(rows_rejected)"
        " FROM candleflow.load_audit",
    )
    assert rows(db, "SELECT count(*) FROM candleflow.rejected_bars") == [(rejected,)]
    assert fetched > inserted > 0 and rejected > 0
    expected = {"fetched": fetched, "inserted": inserted, "updated": updated, "rejected": rejected}
    for counter, value in expected.items():
        name = f"airflow.candleflow.bars.{counter}"
        assert sum(sync[(name, "c")]) == value, counter  # the total
        assert sum(sync[(f"{name}.{TAGS}", "c")]) == value, counter  # provider and timeframe
    for step in ("fetch", "validate", "load"):  # one timing per symbol and step
        timings = sync[(f"airflow.candleflow.sync.{step}.{TAGS}", "ms")]
        assert len(timings) == len(SYMBOLS) and all(t > 0 for t in timings), step

    ((lag,),) = rows(db, "SELECT max(extract(epoch FROM lag)) FROM candleflow.freshness_checks")
    assert lag > 0  # bars of 2024 are stale now
    assert check[("airflow.candleflow.freshness.lag_seconds.1h", "g")] == [float(lag)]
    assert check[("airflow.candleflow.freshness.lag_seconds", "g")] == [float(lag)]


def test_capture_and_rollup_runs_send_ticks_stored_and_rolled_up_bars(
    airflow_env, airflow_bin, db_url, db, tmp_path
):
    with StatsdListener() as statsd, ReplayServer(seed=5) as srv:
        env = dag_env(airflow_env, db_url, tmp_path, srv.url, SYMBOLS, **statsd.env)
        dags_test(airflow_bin, env, "ticks_capture", conf={"seconds": 3})
        capture = statsd.take()
        ((stored,),) = rows(db, "SELECT count(*) FROM candleflow.ticks")
        assert seed_ticks(db_url, tmp_path) == 12  # a closed minute for the rollup to build
        dags_test(airflow_bin, env, "bars_rollup")
        rollup = statsd.take()

    assert stored > 0
    assert sum(capture[("airflow.candleflow.ticks.stored", "c")]) == stored
    assert sum(capture[("airflow.candleflow.ticks.stored.tradingview", "c")]) == stored
    built = dict(
        rows(
            db, "SELECT timeframe, count(*) FROM candleflow.bars WHERE source = 'rollup' GROUP BY 1"
        )
    )
    assert built
    for tf, count in built.items():
        assert sum(rollup[(f"airflow.candleflow.bars.inserted.rollup.{tf}", "c")]) == count, tf
    assert sum(rollup[("airflow.candleflow.bars.inserted", "c")]) == sum(built.values())
