"""The stream collector against the replay server: reconnects, SIGTERM, exact counts."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from urllib.parse import urlencode

import pytest

from candleflow.db.ticks import STREAM_SEQ_BASE
from candleflow.domain import Tick
from candleflow.managers import BarManager
from candleflow.providers.base import Capability, IDataProvider
from candleflow.providers.tradingview import TradingViewProvider
from candleflow.providers.tradingview.client import ANONYMOUS_TOKEN
from candleflow.services.ticks.collector import Collector
from candleflow.testing.replay_server import ReplayServer
from candleflow.validation.ticks import TickRules

FROZEN = 1_709_287_200.0  # 2024-03-01 10:00 UTC: every tick is in the past, minutes close
SYMBOL = "BINANCE:BTCUSDT"
REPLAY = TickRules(late_after=None)  # a frozen replay's ticks are years old: not "late"


def _provider(url: str) -> TradingViewProvider:
    return TradingViewProvider(
        url=url, token=ANONYMOUS_TOKEN, timeout=5.0, max_retries=3, backoff=0.01, max_backoff=0.05
    )


def _stored(db) -> list[tuple]:
    with db.cursor() as cur:
        cur.execute("SELECT seq, day_volume FROM candleflow.ticks ORDER BY ts, seq")
        return cur.fetchall()


def test_a_disconnect_mid_stream_loses_and_duplicates_no_tick(db, db_url):
    with ReplayServer(port=0, seed=1, now=FROZEN) as server:
        query = {
            "scenario": "disconnect_mid_stream",
            "drop_after": 150,
            "tick_interval": 0.005,
            "tick_step": 1.0,  # one virtual second per tick: a few minutes of bars
        }
        provider = _provider(f"{server.url}?{urlencode(query)}")
        collector = Collector(
            provider,
            [SYMBOL],
            run_id="t",
            url=db_url,
            batch_size=40,
            flush_interval=0.1,
            rules=REPLAY,
        )
        stats = collector.run(threading.Event(), duration=4.0)
        provider.close()
    assert provider.timings.connections == 2
    rows = _stored(db)
    assert stats.read > 150 and stats.inserted == stats.read == len(rows)
    assert (stats.duplicates, stats.rejected) == (0, 0)
    assert [seq for seq, _ in rows] == list(range(STREAM_SEQ_BASE, STREAM_SEQ_BASE + len(rows)))

    BarManager(["1m"]).rollup(db, run_id="t")
    with db.cursor() as cur:
        cur.execute("SELECT sum(volume), count(*) FROM candleflow.bars")
        volume, bars = cur.fetchone()
    # the volume traded during the reconnect is credited, nothing is counted twice
    assert bars >= 2
    assert volume == pytest.approx(rows[-1][1] - rows[0][1], rel=1e-9)


def _wait_for_ticks(server, proc, count: int, timeout: float = 90.0) -> None:
    """Until the server has sent ``count`` ticks to the collector (its start-up, imports
    included, takes seconds on a busy machine), then a moment for the reader to take them."""
    deadline = time.monotonic() + timeout
    while server.stats.ticks_sent < count:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline, f"only {server.stats.ticks_sent} ticks sent"
        time.sleep(0.1)
    time.sleep(1.0)


def test_sigterm_flushes_every_tick_that_was_read(db, db_url):
    with ReplayServer(port=0, seed=1, now=FROZEN) as server:
        env = {
            **os.environ,
            "CANDLEFLOW_DATABASE_URL": db_url,
            "CANDLEFLOW_TRADINGVIEW_URL": f"{server.url}?tick_interval=0.01",
            "CANDLEFLOW_TRADINGVIEW_TOKEN": ANONYMOUS_TOKEN,
        }
        code = (
            "import logging, typer; logging.basicConfig(level=logging.INFO);"
            "from candleflow.cli.ticks import ticks_stream; typer.run(ticks_stream)"
        )
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                code,
                SYMBOL,
                "--flush-interval",
                "60",
                "--late-after-hours",
                "0",
                "--json",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        _wait_for_ticks(server, proc, 20)
        assert _stored(db) == []  # everything read so far is still buffered
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err[-3000:]
    counts = json.loads(out.strip().splitlines()[-1])
    logged = re.findall(r"collector stopped \S+: (\d+) ticks read", err)
    assert logged and int(logged[-1]) == counts["read"] > 0
    assert len(_stored(db)) == counts["read"] == counts["inserted"]


def test_sigterm_under_a_backlog_in_fast_mode_flushes_every_tick_that_was_read(db, db_url):
    """The replay server's fast mode outruns small batches: frames are split across flushes
    and the reader is held back by the backlog bound, and SIGTERM still loses nothing."""
    with ReplayServer(port=0, seed=1, now=FROZEN) as server:
        env = {
            **os.environ,
            "CANDLEFLOW_DATABASE_URL": db_url,
            "CANDLEFLOW_TRADINGVIEW_URL": f"{server.url}?tick_interval=0&ticks_per_frame=300",
            "CANDLEFLOW_TRADINGVIEW_TOKEN": ANONYMOUS_TOKEN,
        }
        code = (
            "import logging, typer; logging.basicConfig(level=logging.INFO);"
            "from candleflow.cli.ticks import ticks_stream; typer.run(ticks_stream)"
        )
        args = [SYMBOL, "BINANCE:ETHUSDT", "--flush-interval", "60", "--batch-size", "700"]
        args += ["--late-after-hours", "0", "--json"]
        proc = subprocess.Popen(
            [sys.executable, "-c", code, *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        _wait_for_ticks(server, proc, 3000)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]
    counts = json.loads(out.strip().splitlines()[-1])
    with db.cursor() as cur:
        cur.execute(
            "SELECT i.symbol, count(*), min(t.seq), max(t.seq) FROM candleflow.ticks t"
            " JOIN candleflow.instruments i ON i.id = t.instrument_id GROUP BY 1"
        )
        per_symbol = {sym: (n, lo, hi) for sym, n, lo, hi in cur.fetchall()}
    assert counts["read"] > 700 and counts["read"] == counts["inserted"]
    assert (counts["duplicates"], counts["rejected"]) == (0, 0)
    assert sum(n for n, _, _ in per_symbol.values()) == counts["read"]
    first, last = STREAM_SEQ_BASE, STREAM_SEQ_BASE - 1
    assert all(lo == first and hi == last + n for n, lo, hi in per_symbol.values())  # no gap


class _TickOnlyProvider(IDataProvider):
    """A provider whose transport yields ``Tick`` objects: the base class adapts them."""

    name = "ticks_only"
    capabilities = frozenset({Capability.BARS, Capability.TICKS})

    def __init__(self, ticks: list[Tick]) -> None:
        self.ticks = ticks

    def _fetch_bars(self, symbol, tf, start, end):
        raise AssertionError("not used")

    def _stream_ticks(self, symbols, stop):
        yield from self.ticks
        stop.wait(10)


def test_a_provider_without_rows_is_collected_through_stream_ticks(db, db_url):
    t0 = dt.datetime(2024, 3, 1, 10, 0, 0, 123456, tzinfo=dt.UTC)
    ticks = [
        Tick(SYMBOL, t0 + dt.timedelta(seconds=i), 100.0 + i, size=0.5, bid=99.0, seq=i)
        for i in range(1, 51)
    ]
    collector = Collector(
        _TickOnlyProvider(ticks),
        [SYMBOL],
        run_id="t",
        url=db_url,
        batch_size=7,
        flush_interval=0.05,
        rules=REPLAY,
    )
    stats = collector.run(threading.Event(), duration=1.0)
    assert stats.read == stats.inserted == 50
    with db.cursor() as cur:
        cur.execute(
            "SELECT ts, seq, price, size, day_volume, bid, ask FROM candleflow.ticks ORDER BY ts"
        )
        rows = cur.fetchall()
    # stored in arrival order under the instrument's own sequence, not the provider's seq
    assert [(r[0], r[1], r[2], r[3], r[5]) for r in rows] == [
        (t.ts, STREAM_SEQ_BASE + i, t.price, t.size, t.bid) for i, t in enumerate(ticks)
    ]
    assert all(r[4] is None and r[6] is None for r in rows)


class _RowsProvider(IDataProvider):
    """A provider whose transport yields ``TickRow`` batches as given."""

    name = "rows"
    capabilities = frozenset({Capability.BARS, Capability.TICKS})

    def __init__(self, batches: list[list[tuple]]) -> None:
        self.batches = batches

    def _fetch_bars(self, symbol, tf, start, end):
        raise AssertionError("not used")

    def _stream_tick_batches(self, symbols, stop):
        yield from self.batches
        stop.wait(10)


def test_a_millisecond_timestamp_is_rejected_as_bad_ts_and_the_rest_of_its_batch_stored(db, db_url):
    t0 = float(int(time.time()) - 120)  # live ticks of two minutes ago, default rules
    rows = [(SYMBOL, t0 + i, 100.0 + i, None, 10.0 + i, 99.0, 101.0, i) for i in range(6)]
    rows[2] = (SYMBOL, (t0 + 2) * 1000, 102.0, None, 12.0, 99.0, 101.0, 2)  # ms: year 56,000+
    rows[4] = (SYMBOL, (t0 + 4) * 1e6, 104.0, None, 14.0, 99.0, 101.0, 4)  # us: not even int64
    collector = Collector(
        _RowsProvider([rows]), [SYMBOL], run_id="bad", url=db_url, flush_interval=0.05
    )
    stats = collector.run(threading.Event(), duration=1.0)
    assert (stats.read, stats.inserted, stats.rejected) == (6, 4, 2)
    with db.cursor() as cur:
        cur.execute("SELECT price FROM candleflow.ticks ORDER BY ts")
        assert [r[0] for r in cur.fetchall()] == [100.0, 101.0, 103.0, 105.0]
        cur.execute("SELECT ts, rules, raw FROM candleflow.rejected_ticks ORDER BY raw->>'price'")
        rejected = cur.fetchall()
    assert [(ts, rules) for ts, rules, _ in rejected] == [(None, ["bad_ts"]), (None, ["bad_ts"])]
    assert [raw["ts"] for _, _, raw in rejected] == [repr((t0 + 2) * 1000), repr((t0 + 4) * 1e6)]
    assert [raw["price"] for _, _, raw in rejected] == [102.0, 104.0]
