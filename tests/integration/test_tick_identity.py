"""Tick identity across collector runs, against the replay server's ``market`` peer.

The peer is what TradingView does: one market per symbol, whose last trade is re-sent as the
snapshot of every new subscription. Each subscription gets ``TRADES`` trades, then the
market is quiet for it, so a run reads everything it was sent and the peer's own record
(``Market.opening`` and ``Market.trades``) is the oracle of every bar. Trades come 4 a
second (virtual), so the last trade of one run and the first of the next share a second:
the case where a seq restarting at 1 put the new run's ticks before the old run's and made
the cumulative volume fall inside a session.
"""

from __future__ import annotations

import threading
import time

import pandas as pd
import pytest

from candleflow.db.ticks import STREAM_SEQ_BASE
from candleflow.errors import TransientError
from candleflow.managers import BarManager
from candleflow.providers.tradingview import TradingViewProvider
from candleflow.providers.tradingview.client import ANONYMOUS_TOKEN
from candleflow.services.ticks.collector import Collector
from candleflow.testing.replay_server import ReplayServer
from candleflow.validation.ticks import TickRules

FROZEN = 1_709_287_200.0  # 2024-03-01 10:00 UTC
SYMBOL = "BINANCE:BTCUSDT"
TRADES = 200  # per subscription (50 virtual seconds)
REPLAY = TickRules(late_after=None)  # the frozen peer's ticks are years old

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def server():
    with ReplayServer(port=0, seed=1, now=FROZEN) as srv:
        yield srv


def _provider(url: str, **options) -> TradingViewProvider:
    defaults = {"timeout": 5.0, "max_retries": 3, "backoff": 0.01, "max_backoff": 0.05}
    return TradingViewProvider(url=url, token=ANONYMOUS_TOKEN, **(defaults | options))


def _market_url(server: ReplayServer) -> str:
    query = "scenario=market&tick_interval=0.01&ticks_per_frame=5&tick_step=0.25"
    return f"{server.url}?{query}&trades={TRADES}"


def _collect(url: str, db_url: str, *, duration: float, lock_wait: float | None = 0.0):
    with _provider(url) as provider:
        collector = Collector(
            provider,
            [SYMBOL],
            run_id=f"run-{time.monotonic_ns()}",
            url=db_url,
            batch_size=50,
            flush_interval=0.05,
            rules=REPLAY,
            lock_wait=lock_wait,
        )
        return collector.run(threading.Event(), duration=duration)


def _in_thread(fn, *args, **kwargs) -> tuple[threading.Thread, dict]:
    out: dict = {}

    def target() -> None:
        try:
            out["result"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - re-raised by the test
            out["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    return thread, out


def _wait_for_ticks(db, count: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with db, db.cursor() as cur:
            cur.execute("SELECT count(*) FROM candleflow.ticks")
            if cur.fetchone()[0] >= count:
                return
        assert time.monotonic() < deadline, "the first collector stored nothing"
        time.sleep(0.1)


def _check_against_peer(db, server: ReplayServer) -> None:
    (market,) = server.state.markets.values()
    with db.cursor() as cur:
        cur.execute("SELECT seq, day_volume FROM candleflow.ticks ORDER BY ts, seq")
        stored = cur.fetchall()
    # every distinct tick once: the opening snapshot and each trade the peer made
    assert len(stored) == 1 + len(market.trades) == 1 + 2 * TRADES
    volumes = [v for _, v in stored]
    assert volumes == sorted(volumes)  # in the peer's order: no false session reset
    assert [s for s, _ in stored] == list(range(STREAM_SEQ_BASE, STREAM_SEQ_BASE + len(stored)))

    trades = pd.DataFrame([market.opening, *market.trades], columns=["t", "price", "volume"])
    trades["traded"] = trades["volume"].diff().fillna(0.0)  # the opening state traded nothing
    trades["ts"] = pd.to_datetime(trades["t"] // 60 * 60, unit="s", utc=True)
    by_minute = trades.groupby("ts")
    expected = pd.DataFrame(
        {
            "open": by_minute["price"].first(),
            "high": by_minute["price"].max(),
            "low": by_minute["price"].min(),
            "close": by_minute["price"].last(),
            "volume": by_minute["traded"].sum(),
        }
    )
    BarManager(["1m"]).rollup(db, run_id="check", now=pd.Timestamp("2030-01-01", tz="UTC"))
    with db.cursor() as cur:
        cur.execute(
            "SELECT ts, open, high, low, close, volume FROM candleflow.bars"
            " WHERE timeframe = '1m' ORDER BY ts"
        )
        bars = pd.DataFrame(cur.fetchall(), columns=["ts", *expected.columns]).set_index("ts")
    assert list(bars.index) == list(expected.index)
    for column in ("open", "high", "low", "close"):
        assert list(bars[column]) == list(expected[column]), column
    assert list(bars["volume"]) == pytest.approx(list(expected["volume"]), rel=1e-9, abs=1e-9)


def test_two_runs_back_to_back_store_every_tick_once_and_bars_equal_the_peer(server, db_url, db):
    url = _market_url(server)
    first = _collect(url, db_url, duration=2.0)
    second = _collect(url, db_url, duration=2.0)
    assert first.read == first.inserted == 1 + TRADES
    # the second run is sent the first run's last trade again: recognised, not stored twice
    assert (second.read, second.inserted, second.duplicates) == (1 + TRADES, TRADES, 1)
    _check_against_peer(db, server)


def test_two_overlapping_runs_store_every_tick_once_and_bars_equal_the_peer(server, db_url, db):
    url = _market_url(server)
    thread, out = _in_thread(_collect, url, db_url, duration=3.0)
    _wait_for_ticks(db, 1)
    began = time.monotonic()
    # the second collector of the symbol waits for the first to finish, then continues it
    second = _collect(url, db_url, duration=6.0, lock_wait=None)
    thread.join()
    assert "error" not in out, out
    first = out["result"]
    assert time.monotonic() - began > 1.0  # it did wait
    assert first.inserted + second.inserted == 1 + 2 * TRADES
    _check_against_peer(db, server)


def test_a_second_collector_of_a_symbol_fails_fast_naming_the_holder(server, db_url, db):
    url = _market_url(server)
    thread, out = _in_thread(_collect, url, db_url, duration=3.0)
    _wait_for_ticks(db, 1)
    began = time.monotonic()
    with pytest.raises(TransientError, match=r"BINANCE:BTCUSDT already collected by another"):
        _collect(url, db_url, duration=3.0, lock_wait=0.0)
    assert time.monotonic() - began < 2.0
    thread.join()
    assert "error" not in out and out["result"].inserted == 1 + TRADES


def test_a_server_dropping_the_socket_after_every_frame_gets_a_bounded_backoff(server, db_url, db):
    url = f"{server.url}?scenario=disconnect_every_frame&tick_interval=0.02&ticks_per_frame=3"
    provider = _provider(url, max_retries=3, backoff=0.05, max_backoff=0.2)
    collector = Collector(
        provider, [SYMBOL], run_id="storm", url=db_url, flush_interval=0.05, rules=REPLAY
    )
    began = time.monotonic()
    with pytest.raises(TransientError):
        collector.run(threading.Event(), duration=30.0)
    provider.close()
    # four attempts (max_retries + 1), not one reconnect per tick until the run ends
    assert provider.timings.connections == 4
    assert time.monotonic() - began < 15.0
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM candleflow.ticks")
        assert cur.fetchone()[0] == collector.stats.read > 0  # what was read is stored
