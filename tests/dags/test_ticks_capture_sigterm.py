"""A SIGTERM to a running ``ticks_capture`` task flushes every tick it read.

The task runs under ``airflow tasks test`` (the task SDK's runner, whose own SIGTERM handler
only calls the operator's ``on_kill``, a no-op for a ``@task``); the collector's signal
handling (``services.ticks.jobs``) turns the signal into a stop, so the task stores what it
holds and ends instead of being killed with ticks in memory.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time

import pytest

from candleflow.testing import ReplayServer

SYMBOL = "BINANCE:BTCUSDT"

pytestmark = pytest.mark.timeout(600)


def test_sigterm_under_airflow_tasks_test_flushes(airflow_env, airflow_bin, db_url, db, tmp_path):
    watchlist = tmp_path / "watchlist.toml"
    watchlist.write_text(f'provider = "tradingview"\nsymbols = ["{SYMBOL}"]\n[timeframes.1h]\n')
    # a live clock: the ticks are of now, as in production (the default late rule applies)
    with ReplayServer(port=0, seed=1) as server:
        env = dict(
            airflow_env,
            CANDLEFLOW_DATABASE_URL=db_url,
            CANDLEFLOW_WATCHLIST=str(watchlist),
            CANDLEFLOW_TRADINGVIEW_URL=f"{server.url}?tick_interval=0.01&ticks_per_frame=2",
        )
        params = json.dumps({"symbols": [SYMBOL], "seconds": 600})
        proc = subprocess.Popen(
            [airflow_bin, "tasks", "test", "ticks_capture", "capture_ticks", "-t", params],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 300
        while server.stats.ticks_sent < 400:  # Airflow's start-up takes a while
            assert proc.poll() is None, proc.communicate()[0][-4000:]
            assert time.monotonic() < deadline, "the task never started streaming"
            time.sleep(0.2)
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out[-4000:]
    logged = re.findall(r"collector stopped \S+: (\d+) ticks read, (\d+) inserted", out)
    assert logged, out[-4000:]
    read, inserted = map(int, logged[-1])
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM candleflow.ticks")
        stored = cur.fetchone()[0]
    assert read == inserted == stored > 0
