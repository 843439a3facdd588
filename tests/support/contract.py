"""Shared ``IDataProvider`` contract cases.

Each entry of ``CASES`` takes the pytest ``request`` and returns a ``ContractCase``: a
configured provider, a symbol, a timeframe, a window and the bars expected in it from an
oracle that does not use the provider (the frame a test wrote, pandas reading the vendor file
directly, or the replay server's synthetic generator). ``tests/unit/test_provider_contract.py``
runs the generic contract over all of them; provider-specific tests use their own cases.
A case that needs a server asks for it by fixture name (``replay_server``,
``binance_stub``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pytest

from candleflow.domain import BAR_COLUMNS
from candleflow.providers.base import IDataProvider
from candleflow.providers.files import FileMapping, FileProvider, FileSource
from tests.support.shared_data import shared_data

UTC = dt.UTC


class ContractCase(NamedTuple):
    provider: IDataProvider
    symbol: str
    timeframe: str
    start: dt.datetime
    end: dt.datetime
    expected: pd.DataFrame  # every bar starting in [start, end), sorted, BAR_COLUMNS


def csv_case(request: pytest.FixtureRequest) -> ContractCase:
    """A bar-end labelled, newest-first CSV in Berlin time with one identical duplicate row."""
    tmp_path: Path = request.getfixturevalue("tmp_path")
    rng = np.random.default_rng(7)
    starts = pd.date_range("2024-03-04 08:00", periods=600, freq="1min", tz="UTC")
    close = 100 + rng.normal(0, 0.1, len(starts)).cumsum().round(2)
    expected = pd.DataFrame(
        {
            "ts": starts,
            "open": close - 0.05,
            "high": close + 0.2,
            "low": close - 0.2,
            "close": close,
            "volume": rng.integers(1, 500, len(starts)).astype(float),
        }
    )
    labels = (
        (starts + pd.Timedelta(minutes=1)).tz_convert("Europe/Berlin").strftime("%d.%m.%Y %H:%M")
    )
    raw = expected.drop(columns="ts").assign(when=labels)[["when", *BAR_COLUMNS[1:]]]
    raw = pd.concat([raw, raw.iloc[[100]]]).iloc[::-1]  # newest first, one page-overlap dup
    path = tmp_path / "dax.csv"
    raw.to_csv(path, index=False, float_format="%.2f")
    mapping = FileMapping(
        {"ts": "when", **{c: c for c in BAR_COLUMNS[1:]}},
        ts_format="%d.%m.%Y %H:%M",
        timezone="Europe/Berlin",
        label="end",
    )
    provider = FileProvider(files={"XETR:DAX": FileSource(path, mapping, timeframe="1m")})
    start, end = (
        dt.datetime(2024, 3, 4, 9, 0, tzinfo=UTC),
        dt.datetime(2024, 3, 4, 15, 0, tzinfo=UTC),
    )
    window = expected[(expected["ts"] >= start) & (expected["ts"] < end)]
    return ContractCase(
        provider, "XETR:DAX", "1m", start, end, window.round({c: 2 for c in BAR_COLUMNS[1:]})
    )


def feather_case(request: pytest.FixtureRequest) -> ContractCase:
    """Real freqtrade bars; the oracle is pandas reading the feather file itself."""
    path = shared_data("freqtrade/ETH_BTC-5m.feather")
    raw = pd.read_feather(path).rename(columns={"date": "ts"})
    start, end = dt.datetime(2018, 1, 15, tzinfo=UTC), dt.datetime(2018, 1, 17, tzinfo=UTC)
    window = raw[(raw["ts"] >= start) & (raw["ts"] < end)][list(BAR_COLUMNS)]
    provider = FileProvider(files={"BINANCE:*": FileSource(path, "freqtrade_feather")})
    return ContractCase(provider, "BINANCE:ETHBTC", "5m", start, end, window)


def lean_daily_case(request: pytest.FixtureRequest) -> ContractCase:
    """Real Lean daily zip; the oracle parses its deci-cent CSV with plain pandas."""
    path = shared_data("lean/daily/spy.zip")
    raw = pd.read_csv(path, header=None, names=list(BAR_COLUMNS))
    raw["ts"] = pd.to_datetime(raw["ts"].str[:8], format="%Y%m%d").dt.tz_localize("UTC")
    raw[["open", "high", "low", "close"]] /= 10_000
    start, end = dt.datetime(2020, 3, 1, tzinfo=UTC), dt.datetime(2020, 4, 1, tzinfo=UTC)
    window = raw[(raw["ts"] >= start) & (raw["ts"] < end)]
    provider = FileProvider(files={"AMEX:SPY": FileSource(path, "auto", timeframe="1d")})
    return ContractCase(provider, "AMEX:SPY", "1d", start, end, window)


FILE_CASES: dict[str, Callable[[pytest.FixtureRequest], ContractCase]] = {
    "csv": csv_case,
    "feather": feather_case,
    "lean_daily": lean_daily_case,
}


def tradingview_case(request: pytest.FixtureRequest) -> ContractCase:
    """The real client against the replay server; the oracle is ``synthetic.bars``."""
    from candleflow.providers.tradingview import TradingViewProvider
    from candleflow.testing import synthetic

    server = request.getfixturevalue("replay_server")
    start = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    start -= dt.timedelta(hours=1600)
    end = start + dt.timedelta(hours=1200)
    provider = TradingViewProvider(
        url=server.url, token="unauthorized_user_token", timeout=5.0, max_retries=2, backoff=0.01
    )
    expected = synthetic.bars("NASDAQ:AAPL", "1h", start, end, seed=1)
    return ContractCase(provider, "NASDAQ:AAPL", "1h", start, end, expected)


def ccxt_case(request: pytest.FixtureRequest) -> ContractCase:
    """Real Binance candles through ccxt from the REST stub, paged past its 1,000 limit; the
    oracle is pandas reading the freqtrade feather file the stub serves."""
    from candleflow.providers.ccxt import CcxtProvider

    stub = request.getfixturevalue("binance_stub")
    path = shared_data("freqtrade/XRP_ETH-1m.feather")
    raw = pd.read_feather(path).rename(columns={"date": "ts"})
    start, end = dt.datetime(2019, 10, 11, 6, tzinfo=UTC), dt.datetime(2019, 10, 13, tzinfo=UTC)
    window = raw[(raw["ts"] >= start) & (raw["ts"] < end)][list(BAR_COLUMNS)]
    provider = CcxtProvider(urls=stub.ccxt_urls, backoff=0.01, max_backoff=0.05)
    return ContractCase(provider, "BINANCE:XRPETH", "1m", start, end, window)


CASES: dict[str, Callable[[pytest.FixtureRequest], ContractCase]] = {
    "tradingview": tradingview_case,
    "ccxt": ccxt_case,
    **{f"files-{name}": case for name, case in FILE_CASES.items()},
}
