"""The ``IDataProvider`` contract, checked the same way for every provider.

Adding a provider is one entry in ``CASES``: a function that receives the pytest
``request`` and returns a ``ContractCase`` (a configured provider, a symbol, a timeframe, a
window and the exact bars expected in it, from an oracle independent of the provider).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

import pandas as pd
import pytest

from candleflow.domain import BAR_COLUMNS, Timeframe
from candleflow.errors import UnsupportedOperation
from candleflow.providers.base import Capability, IDataProvider
from tests.support.contract import CASES, ContractCase

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def replay_server():
    from candleflow.testing.replay_server import ReplayServer

    with ReplayServer(port=0, seed=1, bar_cap=500) as srv:
        yield srv


@pytest.fixture(scope="module")
def binance_stub():
    from candleflow.testing.binance_markets import freqtrade_markets
    from candleflow.testing.binance_stub import BinanceStub
    from tests.support.shared_data import shared_data

    with BinanceStub(freqtrade_markets(shared_data("freqtrade").parent)) as stub:
        yield stub


@pytest.fixture(params=sorted(CASES))
def contract_case(request: pytest.FixtureRequest):
    case = CASES[request.param](request)
    with case.provider:
        yield case


@pytest.fixture
def fetched(contract_case: ContractCase) -> pd.DataFrame:
    c = contract_case
    return c.provider.fetch_bars(c.symbol, c.timeframe, c.start, c.end)


def test_columns_are_bar_columns(fetched):
    assert tuple(fetched.columns) == BAR_COLUMNS
    assert all(str(fetched[c].dtype) == "float64" for c in BAR_COLUMNS[1:])


def test_ts_is_utc(fetched):
    assert isinstance(fetched["ts"].dtype, pd.DatetimeTZDtype)
    assert str(fetched["ts"].dt.tz) == "UTC"


def test_sorted_and_unique(fetched):
    assert fetched["ts"].is_monotonic_increasing
    assert fetched["ts"].is_unique


def test_within_window(fetched, contract_case):
    assert len(fetched) > 0
    assert (fetched["ts"] >= contract_case.start).all()
    assert (fetched["ts"] < contract_case.end).all()


def test_equals_expected_bars(fetched, contract_case):
    pd.testing.assert_frame_equal(
        fetched.reset_index(drop=True),
        contract_case.expected.reset_index(drop=True),
        check_exact=False,
        rtol=1e-12,  # vendor prices scaled by the reader (Lean deci-cents) may differ in the ulp
        check_dtype=False,
    )


def test_no_forming_bar(contract_case):
    c = contract_case
    tf = Timeframe.parse(c.timeframe)
    now = c.start + (c.end - c.start) / 2 + dt.timedelta(minutes=7)  # inside a bar
    got = c.provider.fetch_bars(c.symbol, c.timeframe, c.start, c.end, now=now)
    ends = got["ts"].map(lambda ts: tf.bar_end(ts.to_pydatetime()))
    assert (ends <= now).all()
    complete = c.expected[c.expected["ts"].map(lambda ts: tf.bar_end(ts.to_pydatetime())) <= now]
    assert list(got["ts"]) == list(complete["ts"])


CALLS: dict[Capability, Callable[[IDataProvider, str], object]] = {
    Capability.BARS: lambda p, s: p.fetch_bars(s, "1h", "2024-01-01", "2024-01-02"),
    Capability.RESOLVE: lambda p, s: p.resolve(s),
    Capability.SEARCH: lambda p, s: p.search(s),
    Capability.TICKS: lambda p, s: list(p.stream_ticks([s], stop=threading.Event())),
    Capability.ACTIONS: lambda p, s: p.fetch_actions(s, "2024-01-01", "2024-01-02"),
}


class _BarsOnly(IDataProvider):
    """A provider declaring one capability: the base class must refuse the others."""

    name = "bars-only"
    capabilities = frozenset({Capability.BARS})

    def _fetch_bars(self, symbol, tf, start, end):
        from candleflow.providers.base import empty_bars

        return empty_bars()


@pytest.mark.parametrize("capability", [c for c in Capability if c is not Capability.BARS])
def test_an_undeclared_capability_raises_unsupported_operation(capability):
    with pytest.raises(UnsupportedOperation, match=r"'bars-only' does not support"):
        CALLS[capability](_BarsOnly(), "X:Y")


def test_capabilities_are_declared(contract_case):
    assert contract_case.provider.capabilities <= frozenset(Capability)
    assert Capability.BARS in contract_case.provider.capabilities
