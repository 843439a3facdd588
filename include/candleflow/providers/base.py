"""``IDataProvider``: the one interface every data source implements.

Template methods: the public operations (``fetch_bars``, ``resolve``, ``search``,
``stream_ticks``) live here and normalise timestamps to UTC, enforce the bar contract and
log; a provider implements only the transport primitives (``_fetch_bars`` and friends) and
declares what it supports in ``capabilities``. Whatever it leaves out raises
``UnsupportedOperation`` with the provider's name.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import threading
from abc import ABC
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, ClassVar

from candleflow.domain import BAR_COLUMNS, PRICE_COLUMNS, UTC, Instrument, Tick, Timeframe
from candleflow.errors import UnsupportedOperation

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


class Capability(enum.StrEnum):
    BARS = "bars"
    RESOLVE = "resolve"
    SEARCH = "search"
    TICKS = "ticks"


def to_utc(value: dt.datetime | str, *, name: str = "timestamp") -> dt.datetime:
    """Parse an ISO-8601 string or datetime; naive values are taken as UTC."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                f"bad {name} {value!r}; expected ISO-8601, e.g. 2024-01-02T00:00Z"
            ) from None
    if not isinstance(value, dt.datetime):
        raise TypeError(f"{name} must be a datetime or ISO-8601 string, got {type(value).__name__}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class IDataProvider(ABC):
    """Base class of all providers. Subclasses set ``name`` and ``capabilities``."""

    name: ClassVar[str] = "abstract"
    capabilities: ClassVar[frozenset[Capability]] = frozenset()

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

        Columns are ``BAR_COLUMNS``; ``ts`` is the bar start in UTC. A bar still forming
        (its end after ``now``) is never returned. Identical duplicates (page overlap) are
        collapsed; conflicting duplicates are kept for validation to reject, never resolved
        silently here.
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
        bars = normalize_bars(raw, tf, start, end, now)
        log.info("%s fetched %s %s [%s, %s): %d bars", self.name, symbol, tf, start, end, len(bars))
        return bars

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
        self._require(Capability.TICKS)
        symbols = list(symbols)
        if not symbols:
            raise ValueError("stream_ticks needs at least one symbol")
        yield from self._stream_ticks(symbols, stop)

    def close(self) -> None:
        """Release connections. Safe to call twice."""

    def __enter__(self) -> IDataProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- transport primitives (override what ``capabilities`` declares) ------------------

    def _fetch_bars(
        self, symbol: str, tf: Timeframe, start: dt.datetime, end: dt.datetime
    ) -> pd.DataFrame:
        raise UnsupportedOperation(f"provider {self.name!r} does not fetch bars")

    def _resolve(self, symbol: str) -> Instrument:
        raise UnsupportedOperation(f"provider {self.name!r} does not resolve symbols")

    def _search(self, text: str, *, type: str | None, exchange: str | None) -> Iterable[Instrument]:
        raise UnsupportedOperation(f"provider {self.name!r} does not search")

    def _stream_ticks(self, symbols: list[str], stop: threading.Event) -> Iterator[Tick]:
        raise UnsupportedOperation(f"provider {self.name!r} does not stream ticks")

    def _require(self, capability: Capability) -> None:
        if capability not in self.capabilities:
            supported = ", ".join(sorted(self.capabilities)) or "nothing"
            raise UnsupportedOperation(
                f"provider {self.name!r} does not support {capability.value!r}"
                f" (it supports: {supported})"
            )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


def empty_bars() -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in BAR_COLUMNS})
    frame["ts"] = pd.Series(dtype="datetime64[us, UTC]")
    return frame


def normalize_bars(
    raw: pd.DataFrame, tf: Timeframe, start: dt.datetime, end: dt.datetime, now: dt.datetime
) -> pd.DataFrame:
    """Enforce the bar contract on what a provider returned (see ``fetch_bars``)."""
    import pandas as pd

    missing = [c for c in BAR_COLUMNS if c not in raw.columns]
    if missing:
        raise ValueError(f"provider frame lacks columns {missing}; expected {list(BAR_COLUMNS)}")
    if raw.empty:
        return empty_bars()
    bars = raw.loc[:, list(BAR_COLUMNS)].copy()
    ts = pd.to_datetime(bars["ts"], utc=True)
    bars["ts"] = ts.dt.as_unit("us")
    for col in (*PRICE_COLUMNS, "volume"):
        bars[col] = pd.to_numeric(bars[col], errors="coerce").astype("float64")
    bars = bars[(bars["ts"] >= start) & (bars["ts"] < end)]
    if tf.minutes is not None:
        forming = bars["ts"] + pd.Timedelta(minutes=tf.minutes) > now
    else:
        forming = bars["ts"].map(tf.bar_end) > now
    bars = bars[~forming.astype(bool)]
    bars = bars.drop_duplicates().sort_values("ts", kind="stable").reset_index(drop=True)
    return bars
