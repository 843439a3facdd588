"""The files provider's own contract tests (its shared cases live in tests/support/contract.py).

The generic contract (``test_provider_contract.py``) runs over the same ``FILE_CASES``; the
tests here are the ones only a files provider has: declared capabilities, unknown symbols and
the bad rows that must pass through to validation.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

import pytest

from candleflow.domain import BAR_COLUMNS
from candleflow.errors import SymbolNotFound, UnsupportedOperation
from candleflow.providers.base import Capability, IDataProvider
from candleflow.providers.files import FileProvider, FileSource
from tests.support.contract import FILE_CASES

UTC = dt.UTC


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
    Capability.ACTIONS: lambda p, s: p.fetch_actions(s, "2024-01-01", "2024-01-02"),
}


@pytest.mark.parametrize("capability", [Capability.SEARCH, Capability.TICKS, Capability.ACTIONS])
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
