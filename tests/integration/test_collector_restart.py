"""Nothing read is lost: the collector across a real database restart, and its limit.

The database is a private embedded PostgreSQL of this module (its own data folder), so it
can really be stopped and started while the collector writes to it; the shared test server
is never restarted.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from candleflow.db import connection
from candleflow.db.ticks import STREAM_SEQ_BASE
from candleflow.errors import DatabaseUnavailable
from candleflow.providers.tradingview import TradingViewProvider
from candleflow.providers.tradingview.client import ANONYMOUS_TOKEN
from candleflow.services.ticks.collector import Collector
from candleflow.testing.replay_server import ReplayServer
from candleflow.validation.ticks import TickRules

FROZEN = 1_709_287_200.0
SYMBOL = "BINANCE:BTCUSDT"
REPLAY = TickRules(late_after=None)

pytestmark = pytest.mark.timeout(300)


@dataclass
class PrivateServer:
    home: Path
    url: str = ""

    def db(self, *args: str) -> str:
        env = {**os.environ, "CANDLEFLOW_HOME": str(self.home)}
        env.pop("CANDLEFLOW_DATABASE_URL", None)
        cli = str(Path(sys.executable).with_name("candleflow"))
        done = subprocess.run([cli, "db", *args], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout.strip()


@pytest.fixture(scope="module")
def private():
    server = PrivateServer(Path(tempfile.mkdtemp(prefix="cf_restart_")))
    try:
        server.db("start")
        server.db("migrate")
        server.url = server.db("url")
        yield server
    finally:
        server.db("stop")
        shutil.rmtree(server.home, ignore_errors=True)


def _collector(server: ReplayServer, url: str, run_id: str, **options) -> Collector:
    provider = TradingViewProvider(
        url=f"{server.url}?tick_interval=0.01&ticks_per_frame=5", token=ANONYMOUS_TOKEN
    )
    return Collector(
        provider, [SYMBOL], run_id=run_id, url=url, flush_interval=0.1, rules=REPLAY, **options
    )


def _run_in_thread(collector: Collector, duration: float) -> tuple[threading.Thread, dict]:
    out: dict = {}

    def target() -> None:
        try:
            out["stats"] = collector.run(threading.Event(), duration=duration)
        except BaseException as exc:  # noqa: BLE001 - asserted by the test
            out["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    return thread, out


def _wait(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def _stored(url: str, run_id: str) -> list[tuple]:
    conn = connection.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                "SELECT seq, day_volume FROM candleflow.ticks WHERE run_id = %s ORDER BY ts, seq",
                (run_id,),
            )
            return cur.fetchall()
    finally:
        conn.close()


def test_a_database_restart_during_capture_loses_nothing(private):
    with ReplayServer(port=0, seed=1, now=FROZEN) as server:
        collector = _collector(server, private.url, "restart", batch_size=100)
        thread, out = _run_in_thread(collector, duration=12.0)
        _wait(lambda: collector.stats.inserted > 200)
        private.db("stop")  # fast shutdown: the collector's session is terminated
        time.sleep(1.5)
        private.db("start")
        thread.join()
    assert "error" not in out, out
    stats = out["stats"]
    assert stats.failed_flushes >= 1  # it did lose the database, and kept what it held
    assert stats.read == stats.inserted > 1000
    assert (stats.duplicates, stats.rejected, stats.unstored) == (0, 0, 0)
    rows = _stored(private.url, "restart")
    assert len(rows) == stats.read
    assert [s for s, _ in rows] == list(range(STREAM_SEQ_BASE, STREAM_SEQ_BASE + len(rows)))
    volumes = [v for _, v in rows]
    assert volumes == sorted(volumes)  # the stream's order, no tick missing in between


def test_when_the_backlog_limit_is_reached_the_error_counts_what_was_not_stored(private):
    with ReplayServer(port=0, seed=2, now=FROZEN) as server:
        collector = _collector(server, private.url, "limit", batch_size=50, max_backlog=800)
        thread, out = _run_in_thread(collector, duration=60.0)
        _wait(lambda: collector.stats.inserted > 100)
        private.db("stop")
        try:
            thread.join(timeout=60)
            assert not thread.is_alive()
        finally:
            private.db("start")
    error, stats = out.get("error"), collector.stats
    assert isinstance(error, DatabaseUnavailable), out
    assert f"{stats.unstored} ticks read and not stored" in str(error)
    assert "limit of 800 ticks" in str(error)
    assert stats.unstored >= 800
    assert stats.read == stats.inserted + stats.unstored
    assert len(_stored(private.url, "limit")) == stats.inserted
