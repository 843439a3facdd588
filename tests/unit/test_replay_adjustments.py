"""The replay server's adjustments: ``has_adjustment`` per symbol, and the ``lean-aapl``
scenario's real AAPL history as of a date, as none, splits and dividends.

The expected prices are LEAN's raw file and LEAN's own factor file read here (the first row on
or after a date, relative to the newest session served), not the server's code.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from candleflow.cli import run
from candleflow.providers.files import read_bars
from candleflow.providers.tradingview import TradingViewProvider
from candleflow.testing.lean_aapl import MissingData
from candleflow.testing.peers import tvkit_range
from candleflow.testing.replay_server import ReplayServer
from tests.support.shared_data import shared_data

UTC = dt.UTC


def test_equities_have_adjustments_crypto_and_indices_do_not():
    with ReplayServer() as server:
        for query, expected in (("", True), ("?adjustments=0", False)):
            with TradingViewProvider(url=server.url + query, timeout=10) as tv:
                assert tv.resolve("NASDAQ:AAPL").extra["has_adjustment"] is expected
                assert tv.resolve("BINANCE:BTCUSDT").extra["has_adjustment"] is False
                assert tv.resolve("SP:SPX").extra["allowed_adjustment"] == "none"


def test_lean_aapl_without_its_data_says_which_file_is_missing(tmp_path, capsys):
    with pytest.raises(MissingData, match=f"{tmp_path}/lean/daily/aapl.zip"):
        ReplayServer(scenario="lean-aapl", as_of="2020-08-15", data=tmp_path)
    with pytest.raises(ValueError, match="needs as_of"):
        ReplayServer(scenario="lean-aapl")
    code = run(
        [
            "replay-server",
            "--scenario",
            "lean-aapl",
            "--as-of",
            "2020-08-15",
            "--data",
            str(tmp_path),
        ]
    )
    assert code == 2
    assert "lean/daily/aapl.zip" in capsys.readouterr().err


def _lean_factors(days: pd.Series, newest: str) -> tuple[np.ndarray, np.ndarray]:
    rows = pd.read_csv(
        shared_data("lean/factor_files/aapl.csv"), header=None, names=["d", "p", "s", "r"]
    )
    row_days = pd.to_datetime(rows["d"].astype(str), format="%Y%m%d").to_numpy()
    at = np.searchsorted(row_days, pd.to_datetime([*days, newest]).to_numpy(), "left")
    split, price = rows["s"].to_numpy()[at], rows["p"].to_numpy()[at]
    return split[:-1] / split[-1], price[:-1] / price[-1]


@pytest.mark.parametrize("as_of", ["2020-08-15", "2020-09-30"])
def test_lean_aapl_serves_the_history_as_it_was_adjusted_as_tradingview_does(as_of):
    data = shared_data("lean/daily/aapl.zip").parents[2]
    lean = read_bars(data / "lean/daily/aapl.zip", "lean_daily", "1d")
    start, end = dt.datetime(2020, 7, 1, tzinfo=UTC), dt.datetime(2020, 10, 1, tzinfo=UTC)
    with ReplayServer(scenario="lean-aapl", as_of=as_of, data=data) as server:
        with TradingViewProvider(url=server.url, timeout=10) as tv:
            raw = tv.fetch_bars("NASDAQ:AAPL", "1d", start, end, now=end)
        splits = tvkit_range(server.url, "NASDAQ:AAPL", "1d", start, end, adjustment="splits")
        total = tvkit_range(server.url, "NASDAQ:AAPL", "1d", start, end, adjustment="dividends")
    days = raw["ts"].dt.tz_convert("America/New_York").dt.date
    assert str(days.iloc[-1]) == {"2020-08-15": "2020-08-14", "2020-09-30": "2020-09-29"}[as_of]
    assert (raw["ts"].dt.tz_convert("America/New_York").dt.strftime("%H:%M") == "09:30").all()
    expected = lean[lean["ts"].dt.date.isin(set(days))].reset_index(drop=True)
    columns = ["open", "high", "low", "close", "volume"]
    pd.testing.assert_frame_equal(raw[columns], expected[columns])  # none: as traded
    split, price = _lean_factors(days.astype(str), str(days.iloc[-1]))
    np.testing.assert_allclose(splits["close"], expected["close"] * split, rtol=1e-12)
    np.testing.assert_allclose(splits["volume"], expected["volume"] / split, rtol=1e-12)
    np.testing.assert_allclose(total["close"], expected["close"] * split * price, rtol=1e-12)
    before_split = days < dt.date(2020, 8, 31)
    assert (split[before_split] == (0.25 if as_of == "2020-09-30" else 1.0)).all()
