"""The soak's checks (``candleflow.testing.soak``) see what they must: a missing, changed or
twice-stored bar or tick, an audit that disagrees; and the replay server keeps its quotes
on the ``market`` peer while a bar fault is injected (what lets the soak check ticks)."""

from __future__ import annotations

import threading

import pandas as pd
import pytest

from candleflow.providers.tradingview import TradingViewProvider
from candleflow.providers.tradingview.client import ANONYMOUS_TOKEN
from candleflow.services.sync import sync_many
from candleflow.services.ticks.collector import Collector
from candleflow.testing.replay_server import ReplayServer
from candleflow.testing.soak import faults, oracle
from candleflow.validation.ticks import TickRules

FROZEN = 1_709_287_200.0  # 2024-03-01 10:00 UTC
SYMBOLS = ["BINANCE:C0001USDT", "NASDAQ:S0001"]
WINDOW = (pd.Timestamp("2024-02-27", tz="UTC"), pd.Timestamp("2024-02-29", tz="UTC"))

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def server():
    with ReplayServer(port=0, seed=3, now=FROZEN, any_symbol=True) as srv:
        srv.state.market_quotes = True
        yield srv


def _exec(db, sql: str) -> None:
    with db, db.cursor() as cur:
        cur.execute(sql)


def test_bars_lost_changed_and_unaudited_are_found(server, db_url, db):
    options = {"url": server.url, "timeout": 10, "backoff": 0.05}
    start, end = (t.to_pydatetime() for t in WINDOW)
    sync_many(SYMBOLS, "1h", start, end, provider_options=options, url=db_url)
    clean = oracle.bars(db_url, SYMBOLS, "1h", WINDOW, seed=3)
    assert clean.checked > 48 and (clean.lost, clean.dup, clean.wrong) == (0, 0, 0)
    assert oracle.audit_mismatches(db_url) == []

    # a close inside the bar: the table's checks allow it, the oracle does not
    _exec(db, "UPDATE candleflow.bars SET close = (high + low) / 2 WHERE ts = '2024-02-28 03:00Z'")
    _exec(db, "DELETE FROM candleflow.bars WHERE ts = '2024-02-28 05:00Z'")
    broken = oracle.bars(db_url, SYMBOLS, "1h", WINDOW, seed=3)
    assert (broken.lost, broken.dup, broken.wrong) == (1, 0, 1)  # 24x7 only at 03:00/05:00 UTC
    assert [row[:2] for row in oracle.audit_mismatches(db_url)] == [(SYMBOLS[0], "1h")]


def test_quotes_stay_on_the_market_under_a_fault_and_ticks_are_checked(server, db_url, db):
    query = "scenario=slow&delay=0&tick_interval=0.01&ticks_per_frame=5&tick_step=0.25"
    url = f"{server.url}?{query}&trades=400"  # a bar fault on this connection, then quiet
    provider = TradingViewProvider(url=url, token=ANONYMOUS_TOKEN, timeout=5.0, backoff=0.01)
    with provider:
        rules = TickRules(late_after=None)  # the frozen peer's ticks are years old
        collector = Collector(provider, SYMBOLS[:1], run_id="r1", url=db_url, rules=rules)
        collector.run(threading.Event(), duration=4.0)
    markets = server.state.markets
    assert len(next(iter(markets.values())).trades) == 400
    clean = oracle.ticks(db_url, markets)
    assert (clean.checked, clean.lost, clean.dup, clean.wrong) == (401, 0, 0, 0)
    rolled = oracle.rollup(db_url, markets, SYMBOLS[:1])
    assert rolled.checked > 0 and (rolled.lost, rolled.dup, rolled.wrong) == (0, 0, 0)

    _exec(db, "DELETE FROM candleflow.ticks WHERE ctid = (SELECT min(ctid) FROM candleflow.ticks)")
    _exec(
        db,
        "UPDATE candleflow.ticks SET price = price + 1"
        " WHERE seq = (SELECT max(seq) FROM candleflow.ticks)",
    )
    broken = oracle.ticks(db_url, markets)
    assert (broken.lost, broken.dup, broken.wrong) == (1, 0, 1)


def test_the_schedule_is_seeded_and_deals_every_kind():
    plan = faults.schedule(7, 1200)
    assert plan == faults.schedule(7, 1200) != faults.schedule(8, 1200)
    assert len(plan) >= 30
    assert {kind for _, kind in plan[: len(faults.KINDS)]} == set(faults.KINDS)
    offsets = [offset for offset, _ in plan]
    assert offsets == sorted(offsets) and offsets[-1] < 1200
