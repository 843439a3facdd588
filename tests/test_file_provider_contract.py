"""The ``IDataProvider`` contract for the files provider, in the shape of test_provider_contract.

Each entry of ``FILE_CASES`` returns a ``ContractCase`` (the same fields as the one in
``test_provider_contract.py``, which runs the generic contract over these cases too): a
configured ``FileProvider``, a symbol, a timeframe, a window and the bars expected in it from
an oracle that does not use the provider (the frame the test wrote, or pandas reading the
vendor file directly).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pytest

from candleflow.domain import BAR_COLUMNS
from candleflow.errors import SymbolNotFound, UnsupportedOperation
from candleflow.providers.base import Capability, IDataProvider
from candleflow.providers.files import FileMapping, FileProvider, FileSource
from tests.shared_data import shared_data

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


@pytest.fixture(params=sorted(FILE_CASES))
def contract_case(request: pytest.FixtureRequest):
    """The generic contract runs these cases too (``test_provider_contract.CASES``); the
    tests here are the files provider's own."""
    case = FILE_CASES[request.param](request)
    with case.provider:
        yield case


def test_window_without_data_is_empty_with_bar_columns(contract_case):
    c = contract_case
    got = c.provider.fetch_bars(c.symbol, c.timeframe, "1970-01-05", "1970-01-06")
    assert got.empty and tuple(got.columns) == BAR_COLUMNS


def test_unknown_symbol_is_symbol_not_found(contract_case):
    with pytest.raises(SymbolNotFound, match="NOWHERE:NOTHING"):
        contract_case.provider.fetch_bars(
            "NOWHERE:NOTHING", contract_case.timeframe, contract_case.start, contract_case.end
        )


CALLS: dict[Capability, Callable[[IDataProvider, str], object]] = {
    Capability.BARS: lambda p, s: p.fetch_bars(s, "1h", "2024-01-01", "2024-01-02"),
    Capability.RESOLVE: lambda p, s: p.resolve(s),
    Capability.SEARCH: lambda p, s: p.search(s),
    Capability.TICKS: lambda p, s: list(p.stream_ticks([s], stop=threading.Event())),
}


@pytest.mark.parametrize("capability", [Capability.SEARCH, Capability.TICKS])
def test_search_and_stream_ticks_raise_unsupported_operation(contract_case, capability):
    assert capability not in contract_case.provider.capabilities
    with pytest.raises(UnsupportedOperation, match="files"):
        CALLS[capability](contract_case.provider, contract_case.symbol)


def test_capabilities_are_declared(contract_case):
    assert contract_case.provider.capabilities == {Capability.BARS, Capability.RESOLVE}
    assert contract_case.provider.resolve(contract_case.symbol).symbol == contract_case.symbol


def test_conflicting_duplicates_and_bad_ohlc_pass_through_for_validation(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text(
        "Date,Open,High,Low,Close,Volume\n"
        "2024-01-02,10,11,9,10.5,100\n"
        "2024-01-02,10,11,9,10.6,100\n"  # conflicts with the row above
        "2024-01-03,10,11,10.2,10.5,100\n"
    )  # the 2024-01-03 row has Low > Open
    provider = FileProvider(files={"X:Y": FileSource(path, "yahoo")})
    got = provider.fetch_bars("X:Y", "1d", "2024-01-01", "2024-01-10")
    assert len(got) == 3
    assert sorted(got["close"].iloc[:2]) == [10.5, 10.6]
    assert got["low"].iloc[2] > got["open"].iloc[2]
