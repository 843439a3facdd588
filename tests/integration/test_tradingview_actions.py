"""Corporate actions from TradingView, over a real websocket to the replay server.

The ``lean-aapl`` scenario serves LEAN's real AAPL daily history as it was on a date, adjusted
the way TradingView adjusts a series for the descriptor's ``adjustment``, with LEAN's own
factors (not candleflow's arithmetic). A split between two runs must leave no patchwork:
runs before and after the 4:1 split of 2020-08-31 store raw bars, learn the actions, and
every adjusted read matches what tvkit, an independent client, gets from the later server.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from candleflow import query
from candleflow.services.sync import sync
from candleflow.testing.peers import tvkit_range
from candleflow.testing.replay_server import ReplayServer
from tests.support.shared_data import shared_data

AAPL = "NASDAQ:AAPL"
UTC = dt.UTC


def _data():
    return shared_data("lean/daily/aapl.zip").parents[2]


def _sync(server: ReplayServer, db_url: str, start: str, end: str, symbol=AAPL, tf="1d"):
    """``sync`` through ``server`` at the server's clock (as the run of that moment)."""
    options = {"url": server.url, "timeout": 10}
    now = dt.datetime.fromtimestamp(server.state.now(), UTC)
    return sync(
        symbol, tf, start, end, provider="tradingview", provider_options=options, url=db_url,
        now=now,
    )  # fmt: skip


def _audit(db, column: str) -> list:
    with db, db.cursor() as cur:
        cur.execute(f"SELECT {column} FROM candleflow.load_audit ORDER BY id")  # noqa: S608 - a test's own column name
        return [row[0] for row in cur.fetchall()]


def _descriptors(server: ReplayServer) -> list[str]:
    """The ``adjustment`` of every resolve_symbol the server received."""
    return [
        json.loads(params[2][1:]).get("adjustment")
        for conn in server.stats.connections
        for method, params in conn.requests
        if method == "resolve_symbol"
    ]


def test_a_split_between_two_runs_leaves_no_patchwork_and_tvkit_agrees(db_url, db):
    with ReplayServer(scenario="lean-aapl", as_of="2020-08-15", data=_data()) as before:
        _sync(before, db_url, "2020-01-01", "2020-08-15")
    assert set(_descriptors(before)) == {"none", "splits", "dividends"}
    first = query.actions(AAPL, url=db_url)
    assert list(first["kind"]) == ["dividend"] * 3  # Feb, May, Aug 2020; the split is unknown
    assert [str(d) for d in first["ex_date"]] == ["2020-02-07", "2020-05-08", "2020-08-07"]
    np.testing.assert_allclose(first["amount"], [0.77, 0.82, 0.82], atol=1e-4)

    with ReplayServer(scenario="lean-aapl", as_of="2020-09-30", data=_data()) as after:
        _sync(after, db_url, "2020-08-15", "2020-09-30")
        start, end = dt.datetime(2020, 1, 1, tzinfo=UTC), dt.datetime(2020, 9, 30, tzinfo=UTC)
        peer_splits = tvkit_range(after.url, AAPL, "1d", start, end, adjustment="splits")
        peer_total = tvkit_range(after.url, AAPL, "1d", start, end, adjustment="dividends")
    split = query.bars(AAPL, "1d", "2020-01-01", "2020-10-01")  # split-adjusted by default
    assert split["close"].pct_change().abs().max() < 0.30  # no 4x drop that never happened
    # The sync stores the daily bars that *closed* by 2020-09-30 00:00 UTC: a daily bar closes
    # at its session's close, so the 2020-09-29 session is in, as tvkit gets it for the range.
    assert len(split) == len(peer_splits) == 188
    columns = ["ts", "open", "high", "low", "close", "volume"]
    pd.testing.assert_frame_equal(split[columns], peer_splits[columns], rtol=1e-9)
    total = query.bars(AAPL, "1d", "2020-01-01", "2020-10-01", adjustment="total_return")
    pd.testing.assert_frame_equal(total[columns], peer_total[columns], rtol=1e-9)

    raw = query.bars(AAPL, "1d", "2020-08-27", "2020-09-02", adjustment="raw").set_index("ts")
    step = raw["close"].shift(1) / raw["close"]
    assert step.idxmax() == pd.Timestamp("2020-08-31 13:30", tz=UTC)  # the session open
    assert step.max() == pytest.approx(499.23 / 129.04)  # LEAN's raw closes, the 4:1 step
    assert _audit(db, "actions_recorded") == [3, 1]  # the split, learned by the second run


def test_a_crypto_pair_and_a_checked_equity_cost_no_extra_request(db_url, db):
    now = dt.datetime(2024, 3, 6, 18, tzinfo=UTC).timestamp()  # a Wednesday, market open
    with ReplayServer(now=now) as server:
        _sync(server, db_url, "2024-03-04", "2024-03-06", "BINANCE:BTCUSDT", "1h")
        assert set(_descriptors(server)) == {"none"}  # resolve said has_adjustment: false
        _sync(server, db_url, "2024-03-04", "2024-03-06", "NASDAQ:MSFT", "1h")
        asked = _descriptors(server)
        # the daily series as none and dividends: no step between them, so no splits series
        assert (asked.count("splits"), asked.count("dividends")) == (0, 1)
        _sync(server, db_url, "2024-03-05", "2024-03-06", "NASDAQ:MSFT", "1h")
        _sync(server, db_url, "2024-03-05", "2024-03-06", "BINANCE:BTCUSDT", "1h")
        assert _descriptors(server) == [*asked, "none", "none"]  # this session: checked
    assert _checks(db) == [
        ("BINANCE:BTCUSDT", False, None, None),
        # through the last closed session, with its raw close: 6 March is still forming
        ("NASDAQ:MSFT", True, dt.date(2024, 3, 5), _close("NASDAQ:MSFT", "2024-03-05")),
    ]
    next_day = dt.datetime(2024, 3, 7, 15, tzinfo=UTC).timestamp()
    with ReplayServer(now=next_day) as server:
        _sync(server, db_url, "2024-03-07T14:00", "2024-03-07T15:00", "NASDAQ:MSFT", "1h")
        # the next session: the dividends series alone confirms the close of 5 March
        assert _descriptors(server) == ["none", "dividends"]
    assert _checks(db)[1][2:] == (dt.date(2024, 3, 6), _close("NASDAQ:MSFT", "2024-03-06"))
    assert query.actions("NASDAQ:MSFT", url=db_url).empty  # synthetic data: no actions


def _checks(db) -> list[tuple]:
    with db, db.cursor() as cur:
        cur.execute(
            "SELECT i.symbol, c.has_actions, c.checked_through, c.checked_close FROM"
            " candleflow.corporate_action_checks c JOIN candleflow.instruments i"
            " ON i.id = c.instrument_id ORDER BY 1"
        )
        return cur.fetchall()


def _close(symbol: str, day: str) -> float:
    """The synthetic daily close of a session (the replay server's oracle)."""
    from candleflow.testing import synthetic

    start = pd.Timestamp(day, tz=UTC)
    return float(synthetic.bars(symbol, "1d", start, start + pd.Timedelta(days=1))["close"][0])
