"""``IDataProvider``: the one interface every data source implements.

Template methods: the public operations (``fetch_bars``, ``resolve``, ``search``,
``stream_ticks``, ``stream_tick_batches``) live here, check their arguments and log; a
provider implements only the transport primitives and declares what it supports in
``capabilities``. ``fetch_bars`` is where a provider's frame enters Candleflow: it is made
canonical there, once (``frames.normalize_bars``), and every later stage trusts it.

Why the checks sit at class creation: a provider that declares a capability and forgets its
primitive used to fail on the first call in production (an ``UnsupportedOperation`` from the
base class, hours into a run). Now ``_fetch_bars`` is abstract (every provider serves bars),
and ``__init_subclass__`` refuses a class whose ``capabilities`` name a primitive it does not
implement, naming the class and the capability. What a provider does not declare raises
``UnsupportedOperation`` with the provider's name when called.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from candleflow.calendars import Market
from candleflow.domain import UTC, Instrument, Tick, Timeframe, to_utc
from candleflow.errors import UnsupportedOperation
from candleflow.frames import empty_bars, normalize_bars

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Capability", "IDataProvider", "TickRow", "empty_bars", "normalize_bars", "to_utc"]

log = logging.getLogger(__name__)

# One tick as a plain tuple, the collector's fast path (no ``Tick`` and ``datetime`` per tick):
# (symbol, ts in Unix seconds, price, size, day_volume, bid, ask, seq).
TickRow = tuple[str, float, float | None, Any, float | None, float | None, float | None, int]


class Capability(enum.StrEnum):
    BARS = "bars"
    RESOLVE = "resolve"
    SEARCH = "search"
    TICKS = "ticks"
    ACTIONS = "actions"


# The primitive(s) each capability needs; for ticks either one (the base adapts the other).
PRIMITIVES: dict[Capability, tuple[str, ...]] = {
    Capability.BARS: ("_fetch_bars",),
    Capability.RESOLVE: ("_resolve",),
    Capability.SEARCH: ("_search",),
    Capability.TICKS: ("_stream_ticks", "_stream_tick_batches"),
    Capability.ACTIONS: ("_fetch_actions",),
}


class IDataProvider(ABC):
    """Base class of all providers. Subclasses set ``name`` and ``capabilities``."""

    name: ClassVar[str] = "abstract"
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    #: True when fetching is work on this process's cores (parsing files), not waiting on
    #: a peer: a sync then validates here, not in a helper process, which would compete for
    #: the same cores and add an interpreter's memory (``validation.sidecar``).
    cpu_bound: ClassVar[bool] = False
    #: Which series of a symbol the provider fetches: ``regular``, or ``extended`` (pre- and
    #: post-market too) where a provider offers it (TradingView's ``session`` option). The
    #: warehouse keeps the two as separate series (``services.instruments``).
    session: str = "regular"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        try:
            declared = frozenset(Capability(c) for c in cls.capabilities)
        except ValueError as exc:
            valid = ", ".join(c.value for c in Capability)
            raise TypeError(f"{cls.__name__}.capabilities: {exc}; expected {valid}") from None
        for capability in sorted(declared):
            names = PRIMITIVES[capability]
            if all(getattr(cls, n) is getattr(IDataProvider, n) for n in names):
                raise TypeError(
                    f"{cls.__name__} declares capability {capability.value!r} but does not "
                    f"implement {' or '.join(names)}"
                )
        cls.capabilities = declared

    # ----- public operations (template methods) -------------------------------------------

    def fetch_bars(
        self,
        symbol: str,
        timeframe: str | Timeframe,
        start: dt.datetime | str,
        end: dt.datetime | str,
        *,
        now: dt.datetime | None = None,
    ) -> pd.DataFrame:
        """Every complete bar whose start lies in ``[start, end)``, sorted by ``ts``.

        The canonical frame of ``candleflow.frames`` (``BAR_COLUMNS``; ``ts`` the bar start,
        ``datetime64[us, UTC]``; the rest float64). A bar still forming (its end after
        ``now``) is never returned. Identical duplicates (page overlap) are
        collapsed; conflicting duplicates are kept for validation to reject, never resolved
        silently here. ``frame.attrs`` set by the provider survive (for example
        ``reachable_start``, the oldest bar a provider with a lookback limit can serve).
        """
        self._require(Capability.BARS)
        tf = Timeframe.parse(timeframe)
        start, end = to_utc(start, name="start"), to_utc(end, name="end")
        if start >= end:
            raise ValueError(
                f"empty window [{start:%Y-%m-%dT%H:%MZ}, {end:%Y-%m-%dT%H:%MZ}) for {symbol}"
            )
        now = to_utc(now or dt.datetime.now(UTC), name="now")
        raw = self._fetch_bars(symbol, tf, start, end)
        bars = normalize_bars(
            raw, tf, start, end, now, market=Market.of(symbol, session=self.session)
        )
        log.info(
            "%s fetched %s %s [%s, %s): %d bars%s",
            self.name,
            symbol,
            tf,
            start,
            end,
            len(bars),
            _reach_note(bars.attrs.get("reachable_start")),
        )
        return bars

    def fetch_actions(
        self,
        symbol: str,
        first: dt.date | str,
        last: dt.date | str,
        *,
        known: tuple[dt.date, float] | None = None,
    ) -> pd.DataFrame:
        """The corporate actions whose ex-date follows a session in ``[first, last]``.

        The frame has ``candleflow.adjustments.ACTION_COLUMNS`` (amounts in the raw prices
        of the ex-date) and ``attrs``: ``has_actions`` (False: the provider adjusts nothing
        for this symbol, e.g. crypto), ``first`` and ``last`` (the session dates the provider
        actually covered: its actions of ex-dates in ``(first, last]`` are all there), and
        ``closes`` (the raw closes of the last sessions covered, ``[(date, close), ...]``).
        ``known=(first, close)``: the raw close of ``first`` the last answer gave, which a
        provider may use to confirm cheaply that nothing happened since.
        """
        self._require(Capability.ACTIONS)
        first, last = _day(first, "first"), _day(last, "last")
        if first > last:
            raise ValueError(f"empty span [{first}, {last}] of actions for {symbol}")
        found = self._fetch_actions(symbol, first, last, known)
        log.info(
            "%s actions of %s [%s, %s]: %d (%s)",
            self.name,
            symbol,
            found.attrs.get("first", first),
            found.attrs.get("last", last),
            len(found),
            "has adjustments" if found.attrs.get("has_actions", True) else "none adjusted",
        )
        return found

    def resolve(self, symbol: str) -> Instrument:
        """What the provider knows about ``symbol`` (``EXCHANGE:TICKER``)."""
        self._require(Capability.RESOLVE)
        return self._resolve(symbol)

    def search(
        self, text: str, *, type: str | None = None, exchange: str | None = None
    ) -> list[Instrument]:
        """Instruments matching ``text``, optionally of one type or exchange."""
        self._require(Capability.SEARCH)
        return list(self._search(text, type=type, exchange=exchange))

    def stream_ticks(self, symbols: Iterable[str], *, stop: threading.Event) -> Iterator[Tick]:
        """Ticks for ``symbols`` until ``stop`` is set; ts in UTC."""
        yield from self._stream_ticks(self._tick_symbols(symbols), stop)

    def stream_tick_batches(
        self, symbols: Iterable[str], *, stop: threading.Event
    ) -> Iterator[list[TickRow]]:
        """The ticks of ``stream_ticks`` as ``TickRow`` tuples, one list per batch the
        transport delivered (a socket frame), until ``stop`` is set.

        Why: the tick collector stores tens of thousands of ticks a second, and a tuple per
        tick costs a fraction of a ``Tick`` with its ``datetime``. Every ticks provider has
        this method: one that only yields ``Tick`` objects is adapted here.
        """
        yield from self._stream_tick_batches(self._tick_symbols(symbols), stop)

    def close(self) -> None:
        """Release connections. Safe to call twice. The base class holds none."""
        return None

    def __enter__(self) -> IDataProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- transport primitives (implement what ``capabilities`` declares) ---------------

    @abstractmethod
    def _fetch_bars(
        self, symbol: str, tf: Timeframe, start: dt.datetime, end: dt.datetime
    ) -> pd.DataFrame:
        """Raw bars covering at least ``[start, end)`` (``BAR_COLUMNS``; more is trimmed)."""

    def _resolve(self, symbol: str) -> Instrument:
        raise UnsupportedOperation(f"provider {self.name!r} does not resolve symbols")

    def _fetch_actions(
        self, symbol: str, first: dt.date, last: dt.date, known: tuple[dt.date, float] | None
    ) -> pd.DataFrame:
        """Actions as ``fetch_actions`` describes them, ``attrs`` included."""
        raise UnsupportedOperation(f"provider {self.name!r} has no corporate actions")

    def _search(self, text: str, *, type: str | None, exchange: str | None) -> Iterable[Instrument]:
        raise UnsupportedOperation(f"provider {self.name!r} does not search")

    def _stream_ticks(self, symbols: list[str], stop: threading.Event) -> Iterator[Tick]:
        """Default: the batches of ``_stream_tick_batches``, one ``Tick`` per row."""
        for batch in self._stream_tick_batches(symbols, stop):
            for row in batch:
                yield Tick(row[0], dt.datetime.fromtimestamp(row[1], tz=UTC), *row[2:])

    def _stream_tick_batches(
        self, symbols: list[str], stop: threading.Event
    ) -> Iterator[list[TickRow]]:
        """Default: each ``Tick`` of ``_stream_ticks`` as a batch of one row."""
        for t in self._stream_ticks(symbols, stop):
            yield [(t.symbol, t.ts.timestamp(), t.price, t.size, t.day_volume, t.bid, t.ask, t.seq)]

    # ----- helpers --------------------------------------------------------------------------

    def _tick_symbols(self, symbols: Iterable[str]) -> list[str]:
        self._require(Capability.TICKS)
        symbols = list(symbols)
        if not symbols:
            raise ValueError("streaming ticks needs at least one symbol")
        return symbols

    def _require(self, capability: Capability) -> None:
        if capability not in self.capabilities:
            supported = ", ".join(sorted(self.capabilities)) or "nothing"
            raise UnsupportedOperation(
                f"provider {self.name!r} does not support {capability.value!r}"
                f" (it supports: {supported})"
            )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


def _day(value: dt.date | str, name: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return to_utc(value, name=name).date()


def _reach_note(reachable: dt.datetime | None) -> str:
    return "" if reachable is None else f" (history reachable from {reachable:%Y-%m-%dT%H:%MZ})"
