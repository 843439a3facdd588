"""``TradingViewProvider``: bars, symbol resolution, search and live ticks from TradingView.

The transport lives in ``client`` (socket, auth, heartbeats), the provider's one shared
socket and its token in ``link``, chart sessions in ``chart``, history paging in ``history``,
ticks in ``quotes``, search in ``search`` and the plan's lookback in ``lookback``; this class
holds the configuration and the retry loop. Calls on one provider are serialised on the
shared socket (a lock), because TradingView throttles connections per IP; ``stream_ticks``
opens a socket of its own.

Configuration: ``url`` or ``CANDLEFLOW_TRADINGVIEW_URL`` (how tests point the real client at
the replay server), ``CANDLEFLOW_TRADINGVIEW_SEARCH_URL`` for search, and the auth token from
the ``token`` option, else ``CANDLEFLOW_TRADINGVIEW_TOKEN`` (the CLI's path), else anonymous
access. The provider never imports Airflow: inside Airflow the token of connection
``tradingview_default`` arrives as the ``token`` option
(``candleflow.airflow.connections.provider_options``). The token never appears in a log line
or a repr.

Bars are fetched raw (the descriptor's ``adjustment: "none"``): splits and dividends are
derived from the daily series as TradingView adjusts it (``fetch_actions``, ``actions``),
stored apart and applied on read.

History: ``paging="range"`` (the default) asks for the window itself and falls back to count
paging when a server ignores ranges; ``paging="count"`` always pages back from the newest bar
(kept for comparison, see ``benchmarks/bench_tv_fetch.py``).

The lookback (what the account's plan serves, ``plan`` and ``max_bars``) is ``lookback``'s:
a fetch whose window may reach past it sets ``frame.attrs["reachable_start"]``.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, ClassVar, Literal

from candleflow import config
from candleflow.domain import UTC, Instrument, Tick, Timeframe
from candleflow.providers.base import Capability, IDataProvider, TickRow
from candleflow.providers.tradingview.actions import fetch_actions
from candleflow.providers.tradingview.bars import BarStore
from candleflow.providers.tradingview.client import DEFAULT_URL, URL_ENV
from candleflow.providers.tradingview.history import (
    Paging,
    fetch_history,
    resolve_info,
)
from candleflow.providers.tradingview.link import Link
from candleflow.providers.tradingview.lookback import PLAN_BARS, Lookback, Plan, reaches_start
from candleflow.providers.tradingview.quotes import QuoteStream
from candleflow.providers.tradingview.retry import RetryPolicy, Timings
from candleflow.providers.tradingview.search import (
    DEFAULT_SEARCH_URL,
    from_resolved,
    search_symbols,
)

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

SEARCH_URL_ENV = "CANDLEFLOW_TRADINGVIEW_SEARCH_URL"
PAGE_SIZE = 5000  # the most bars one reply holds for an anonymous session
__all__ = ["PLAN_BARS", "Plan", "TradingViewProvider"]


class TradingViewProvider(IDataProvider):
    """TradingView over its web chart's websocket protocol (and HTTP search)."""

    name: ClassVar[str] = "tradingview"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(Capability)

    def __init__(
        self,
        *,
        url: str | None = None,
        token: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 3,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        page_size: int = PAGE_SIZE,
        search_url: str | None = None,
        paging: Literal["range", "count"] = "range",
        max_bars: int | None = None,
        session: Literal["regular", "extended"] = "regular",
        plan: Plan = "basic",
    ) -> None:
        """``timeout`` bounds every wait for data (heartbeats do not extend it);
        ``max_retries`` reconnects follow a transient failure, ``backoff`` seconds apart
        and doubling up to ``max_backoff``; ``page_size`` is the most bars asked for in one
        request; ``paging``, ``plan`` and ``max_bars`` are described in the module docstring;
        ``session`` ``extended`` fetches the extended-hours series (stored apart)."""
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        if page_size < 1:
            raise ValueError(f"page_size must be >= 1, got {page_size}")
        if paging not in ("range", "count"):
            raise ValueError(f"paging must be 'range' or 'count', got {paging!r}")
        if max_bars is not None and (isinstance(max_bars, bool) or int(max_bars) < 1):
            raise ValueError(f"max_bars must be a positive number of bars or None, got {max_bars}")
        if session not in ("regular", "extended"):
            raise ValueError(f"session must be 'regular' or 'extended', got {session!r}")
        self.session = session
        if plan not in PLAN_BARS:
            raise ValueError(f"plan must be one of {', '.join(PLAN_BARS)}, got {plan!r}")
        self.url = url or config.setting(URL_ENV, DEFAULT_URL)
        self.search_url = search_url or config.setting(SEARCH_URL_ENV, DEFAULT_SEARCH_URL)
        self.timeout = float(timeout)
        self.page_size = page_size
        self.paging = paging
        self.plan = plan
        self.max_bars = PLAN_BARS[plan] if max_bars is None else int(max_bars)
        self.lookback = Lookback(self.max_bars)
        self.retry = RetryPolicy(
            attempts=max_retries + 1, base_delay=backoff, max_delay=max_backoff
        )
        self.timings = Timings()
        self.link = Link(self.url, token, timeout=self.timeout, timings=self.timings)

    def __repr__(self) -> str:
        return (
            f"<TradingViewProvider url={self.url!r} token=*** timeout={self.timeout} "
            f"max_retries={self.retry.attempts - 1} paging={self.paging!r} "
            f"plan={self.plan!r} max_bars={self.max_bars} session={self.session!r}>"
        )

    # ----- transport primitives ---------------------------------------------------------

    def _fetch_bars(
        self, symbol: str, tf: Timeframe, start: dt.datetime, end: dt.datetime
    ) -> pd.DataFrame:
        store = BarStore()  # shared by every attempt: a reconnect merges, never restarts
        now = dt.datetime.now(UTC)

        def attempt() -> Paging:
            return fetch_history(
                self.link.connection(),
                symbol,
                tf,
                start,
                end,
                store,
                page_size=self.page_size,
                now=now,
                ranged=self.paging == "range",
                session=self.session,
            )

        with self.link.lock:
            paging = self.retry.run(
                attempt, what=f"fetch {symbol} {tf}", on_retry=self.link.reconnect
            )
            reach = None
            if not reaches_start(symbol, tf, start, store.oldest()):
                reach = self.retry.run(
                    lambda: self.lookback.reachable(
                        self.link.connection,
                        symbol,
                        tf,
                        start,
                        now,
                        page_size=self.page_size,
                        session=self.session,
                    ),
                    what=f"probe {symbol} {tf}",
                    on_retry=self.link.reconnect,
                )
        self.timings.pages += paging.pages
        self.timings.range_fallbacks += paging.mode == "count-fallback"
        log.info(
            "tradingview %s %s: %s paging, %d pages, %d bars held",
            symbol,
            tf,
            paging.mode,
            paging.pages,
            len(store),
        )
        frame = store.frame(self.timings)
        if reach is not None:
            oldest = min(reach, store.oldest() or reach)
            frame.attrs["reachable_start"] = dt.datetime.fromtimestamp(oldest, tz=UTC)
        return frame

    def _fetch_actions(
        self, symbol: str, first: dt.date, last: dt.date, known: tuple[dt.date, float] | None
    ) -> pd.DataFrame:
        """Splits and dividends derived from the daily series as ``none``, ``splits`` and
        ``dividends`` (``actions``), on the shared socket with the same retries as bars."""
        with self.link.lock:
            check = self.retry.run(
                lambda: fetch_actions(
                    self.link.connection(),
                    symbol,
                    first,
                    last,
                    page_size=self.page_size,
                    known=known,
                ),
                what=f"actions of {symbol}",
                on_retry=self.link.reconnect,
            )
        frame = check.actions
        frame.attrs.update(
            has_actions=check.has_actions,
            first=check.first,
            last=check.last,
            closes=check.closes,
            confirmed=check.confirmed,
        )
        return frame

    def _resolve(self, symbol: str) -> Instrument:
        with self.link.lock:
            info = self.retry.run(
                lambda: resolve_info(self.link.connection(), symbol, self.session),
                what=f"resolve {symbol}",
                on_retry=self.link.reconnect,
            )
        return from_resolved(symbol, info)

    def _search(self, text: str, *, type: str | None, exchange: str | None) -> list[Instrument]:
        return self.retry.run(
            lambda: search_symbols(
                self.search_url, text, type=type, exchange=exchange, timeout=self.timeout
            ),
            what=f"search {text!r}",
            on_retry=lambda: None,
        )

    def _stream_tick_batches(
        self, symbols: list[str], stop: threading.Event
    ) -> Iterator[list[TickRow]]:
        yield from self._quote_stream(symbols, stop).batches()

    def _stream_ticks(self, symbols: list[str], stop: threading.Event) -> Iterator[Tick]:
        yield from self._quote_stream(symbols, stop)

    def _quote_stream(self, symbols: list[str], stop: threading.Event) -> QuoteStream:
        return QuoteStream(
            self.link.open, symbols, stop, retry=self.retry, silence_s=3 * self.timeout
        )

    def close(self) -> None:
        with self.link.lock:
            self.link.drop()
