"""A scheduled run catches up from the series' watermark: history through
last month, then one scheduled ``ohlcv_1h`` run leaves no missing hour up to now; a backfill
run still loads exactly its interval.

The chunk task as Airflow runs it (``SyncBarsOperator.execute`` with the run's type in its
context), the real TradingView client against the replay server, the real embedded warehouse.
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pandas as pd
import pytest

from candleflow.airflow.operators import SyncBarsOperator
from candleflow.services.sync import sync_many
from candleflow.testing import ReplayServer
from tests.support.bars import closed_bars, stored_bars

pytestmark = pytest.mark.timeout(300)

UTC = dt.UTC
SYMBOLS = ["NASDAQ:AAPL", "BINANCE:BTCUSDT"]
HISTORY = (dt.datetime(2026, 11, 1, tzinfo=UTC), dt.datetime(2026, 12, 1, tzinfo=UTC))
NOW = dt.datetime(2026, 12, 7, 19, 0, 40, tzinfo=UTC)  # 40 s after the 18:00-19:00 interval
INTERVAL = (dt.datetime(2026, 12, 7, 18, tzinfo=UTC), dt.datetime(2026, 12, 7, 19, tzinfo=UTC))
SEED = 3


@pytest.fixture
def server():
    with ReplayServer(seed=SEED, now=NOW.timestamp()) as srv:
        yield srv


def history(srv, db_url) -> None:
    """What the history DAG's November run stores (the month's window)."""
    sync_many(SYMBOLS, "1h", *HISTORY, provider_options={"url": srv.url}, url=db_url, now=NOW)


def run_chunk(srv, run_type: str, run_id: str) -> dict:
    """One chunk task of ``ohlcv_1h`` for the 18:00-19:00 interval, as Airflow calls it."""
    task = SyncBarsOperator(
        task_id="sync_tradingview",
        timeframe="1h",
        symbols=SYMBOLS,
        provider_options={"url": srv.url, "timeout": 10, "backoff": 0.05},
        start=INTERVAL[0].isoformat(),
        end=INTERVAL[1].isoformat(),
        reject_threshold=0.05,
    )
    dag_run = SimpleNamespace(run_type=run_type, clear_number=0)
    return task.execute({"run_id": run_id, "params": {}, "dag_run": dag_run})


def stored(db, symbol: str) -> pd.Series:
    return stored_bars(db, symbol)["ts"]


def test_a_scheduled_run_fills_the_hole_between_history_and_now(server, db_url, db):
    history(server, db_url)
    summary = run_chunk(server, "scheduled", "scheduled__2026-12-07T18:00:00+00:00")

    for symbol in SYMBOLS:
        expected = closed_bars(symbol, HISTORY[0], INTERVAL[1], SEED)["ts"]
        assert len(expected) > 150
        assert list(stored(db, symbol)) == list(expected)  # every hour, none missing
    caught = summary["caught_up"]
    assert set(caught) == set(SYMBOLS)
    btc = closed_bars("BINANCE:BTCUSDT", HISTORY[1], INTERVAL[0], SEED)
    assert caught["BINANCE:BTCUSDT"]["rows"] == len(btc) + 1  # + the watermark's bar, again
    with db.cursor() as cur:
        cur.execute(
            "SELECT symbol, bool_or(catch_up), bool_and(catch_up), min(window_start),"
            " sum(rows_inserted) FILTER (WHERE catch_up) FROM candleflow.load_audit"
            " WHERE run_id LIKE 'scheduled__%%' GROUP BY symbol ORDER BY symbol"
        )
        rows = cur.fetchall()
    assert [r[:3] for r in rows] == [(s, True, False) for s in sorted(SYMBOLS)]
    assert dict((r[0], r[4]) for r in rows)["BINANCE:BTCUSDT"] == len(btc)


def test_a_backfill_run_loads_exactly_its_interval(server, db_url, db):
    history(server, db_url)
    summary = run_chunk(server, "backfill", "backfill__2026-12-07T18:00:00+00:00")

    assert summary["caught_up"] == {}
    btc = stored(db, "BINANCE:BTCUSDT")
    assert btc.iloc[-1] == pd.Timestamp(INTERVAL[0])  # the interval's one bar
    assert btc.iloc[-2] == pd.Timestamp(HISTORY[1]) - pd.Timedelta(hours=1)  # then the hole
