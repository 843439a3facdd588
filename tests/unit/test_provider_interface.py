"""``IDataProvider`` is a real interface: abstract primitives, capabilities checked when the
class is created, and template methods that adapt ticks and keep a provider's frame attrs.
"""

from __future__ import annotations

import datetime as dt
import inspect
import threading

import pandas as pd
import pytest

from candleflow.domain import Tick
from candleflow.providers.base import PRIMITIVES, Capability, IDataProvider, empty_bars

UTC = dt.UTC
TICKS = [
    Tick(
        "X:Y",
        dt.datetime(2024, 3, 1, 10, 0, 0, 250_000, tzinfo=UTC),
        10.5,
        2.0,
        90.0,
        10.4,
        10.6,
        1,
    ),
    Tick("X:Y", dt.datetime(2024, 3, 1, 10, 0, 1, tzinfo=UTC), 10.6, None, None, None, None, 2),
]


def test_the_interface_is_abstract_and_bars_are_its_one_mandatory_primitive():
    assert inspect.isabstract(IDataProvider)
    assert IDataProvider.__abstractmethods__ == frozenset({"_fetch_bars"})

    class NoBars(IDataProvider):
        name = "no-bars"

    with pytest.raises(TypeError, match="_fetch_bars"):
        NoBars()


@pytest.mark.parametrize("capability", list(Capability))
def test_declaring_a_capability_without_its_primitive_fails_at_class_creation(capability):
    with pytest.raises(TypeError) as info:
        type(
            "HalfDone",
            (IDataProvider,),
            {
                "capabilities": frozenset({capability}),
                # bars implemented unless bars is the capability under test
                **({} if capability is Capability.BARS else {"_fetch_bars": lambda *a: None}),
            },
        )
    message = str(info.value)
    assert "HalfDone" in message and repr(capability.value) in message
    assert all(name in message for name in PRIMITIVES[capability])


def test_an_unknown_capability_names_the_valid_ones():
    with pytest.raises(TypeError, match=r"Odd\.capabilities.*'teleport'.*bars, resolve"):

        class Odd(IDataProvider):
            capabilities = frozenset({"bars", "teleport"})  # type: ignore[arg-type]

            def _fetch_bars(self, symbol, tf, start, end):
                return empty_bars()


class TickObjects(IDataProvider):
    """Implements only ``_stream_ticks``: the base class builds the batches."""

    name = "tick-objects"
    capabilities = frozenset({Capability.BARS, Capability.TICKS})

    def _fetch_bars(self, symbol, tf, start, end):
        return empty_bars()

    def _stream_ticks(self, symbols, stop):
        yield from TICKS


class TickRows(TickObjects):
    """Implements only ``_stream_tick_batches``: the base class builds the ``Tick``s."""

    name = "tick-rows"
    _stream_ticks = IDataProvider._stream_ticks

    def _stream_tick_batches(self, symbols, stop):
        yield [
            (t.symbol, t.ts.timestamp(), t.price, t.size, t.day_volume, t.bid, t.ask, t.seq)
            for t in TICKS
        ]


def test_a_ticks_provider_serves_both_ticks_and_batches_whichever_it_implements():
    stop = threading.Event()
    for provider in (TickObjects(), TickRows()):
        assert list(provider.stream_ticks(["X:Y"], stop=stop)) == TICKS
        rows = [row for batch in provider.stream_tick_batches(["X:Y"], stop=stop) for row in batch]
        assert rows == [
            ("X:Y", 1709287200.25, 10.5, 2.0, 90.0, 10.4, 10.6, 1),
            ("X:Y", 1709287201.0, 10.6, None, None, None, None, 2),
        ]
    assert [len(b) for b in TickObjects().stream_tick_batches(["X:Y"], stop=stop)] == [1, 1]
    assert [len(b) for b in TickRows().stream_tick_batches(["X:Y"], stop=stop)] == [2]
    with pytest.raises(ValueError, match="at least one symbol"):
        list(TickRows().stream_tick_batches([], stop=stop))


def test_fetch_bars_keeps_the_attrs_the_provider_set():
    reach = dt.datetime(2024, 1, 1, tzinfo=UTC)

    class WithAttrs(IDataProvider):
        name = "with-attrs"
        capabilities = frozenset({Capability.BARS})

        def __init__(self, rows: int) -> None:
            self.rows = rows

        def _fetch_bars(self, symbol, tf, start, end):
            ts = pd.date_range(start, periods=self.rows, freq="h")
            frame = pd.DataFrame({"ts": ts, "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0})
            frame = frame.assign(volume=0.0).iloc[::-1]  # newest first: the base class sorts
            frame.attrs["reachable_start"] = reach
            return frame

    for rows in (0, 5):
        bars = WithAttrs(rows).fetch_bars(
            "X:Y", "1h", "2024-02-01", "2024-02-02", now=dt.datetime(2024, 3, 1, tzinfo=UTC)
        )
        assert len(bars) == rows and bars["ts"].is_monotonic_increasing
        assert bars.attrs == {"reachable_start": reach}


def test_to_utc_is_still_importable_from_the_base_module():
    from candleflow.providers.base import to_utc

    assert to_utc("2024-01-02T03:04Z") == dt.datetime(2024, 1, 2, 3, 4, tzinfo=UTC)
    with pytest.raises(ValueError, match="start"):
        to_utc("yesterday", name="start")
