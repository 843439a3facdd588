"""``TradingViewProvider``: bars, symbol resolution, search and live ticks from TradingView.

The transport lives in ``client`` (socket, auth, heartbeats), the chart-session
logic in ``history``, ticks in ``quotes`` and search in
``search``; this class holds the configuration, one shared socket and the retry
loop. Calls on one provider are serialised on that socket (a lock), because TradingView
throttles connections per IP; ``stream_ticks`` opens a socket of its own.

Configuration: ``url`` or ``CANDLEFLOW_TRADINGVIEW_URL`` (how tests point the real client at
the replay server), ``CANDLEFLOW_TRADINGVIEW_SEARCH_URL`` for search, and the auth token from
the ``token`` option, else ``CANDLEFLOW_TRADINGVIEW_TOKEN``, else the password of the Airflow
connection ``tradingview_default`` (looked up lazily, only if Airflow is importable), else
anonymous access. The token never appears in a log line or a repr.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from candleflow.domain import UTC, Instrument, Tick, Timeframe
from candleflow.providers.base import Capability, IDataProvider
from candleflow.providers.tradingview.bars import BarStore
from candleflow.providers.tradingview.client import ANONYMOUS_TOKEN, DEFAULT_URL, Connection
from candleflow.providers.tradingview.history import fetch_history, resolve_info
from candleflow.providers.tradingview.quotes import QuoteStream, TickRow
from candleflow.providers.tradingview.retry import RetryPolicy, Timings
from candleflow.providers.tradingview.search import (
    DEFAULT_SEARCH_URL,
    from_resolved,
    search_symbols,
)

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

URL_ENV = "CANDLEFLOW_TRADINGVIEW_URL"
SEARCH_URL_ENV = "CANDLEFLOW_TRADINGVIEW_SEARCH_URL"
TOKEN_ENV = "CANDLEFLOW_TRADINGVIEW_TOKEN"  # noqa: S105 - a variable name, not a secret
AIRFLOW_CONN_ID = "tradingview_default"
PAGE_SIZE = 5000  # the anonymous per-request cap (protocol notes 3.8)


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
    ) -> None:
        """``timeout`` bounds every wait for data (heartbeats do not extend it);
        ``max_retries`` reconnects follow a transient failure, ``backoff`` seconds apart
        and doubling up to ``max_backoff``."""
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        if page_size < 1:
            raise ValueError(f"page_size must be >= 1, got {page_size}")
        self.url = url or os.environ.get(URL_ENV) or DEFAULT_URL
        self.search_url = search_url or os.environ.get(SEARCH_URL_ENV) or DEFAULT_SEARCH_URL
        self.timeout = float(timeout)
        self.page_size = page_size
        self.retry = RetryPolicy(
            attempts=max_retries + 1, base_delay=backoff, max_delay=max_backoff
        )
        self.timings = Timings()
        self._token_option = token
        self._token: str | None = None
        self._conn: Connection | None = None
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return (
            f"<TradingViewProvider url={self.url!r} token=*** timeout={self.timeout} "
            f"max_retries={self.retry.attempts - 1}>"
        )

    # ----- transport primitives ---------------------------------------------------------

    def _fetch_bars(
        self, symbol: str, tf: Timeframe, start: dt.datetime, end: dt.datetime
    ) -> pd.DataFrame:
        store = BarStore()  # shared by every attempt: a reconnect merges, never restarts
        now = dt.datetime.now(UTC)

        def attempt() -> int:
            return fetch_history(
                self._connection(), symbol, tf, start, store, page_size=self.page_size, now=now
            )

        with self._lock:
            pages = self.retry.run(attempt, what=f"fetch {symbol} {tf}", on_retry=self._reconnect)
        log.info("tradingview %s %s: %d pages, %d bars received", symbol, tf, pages, len(store))
        return store.frame(self.timings)

    def _resolve(self, symbol: str) -> Instrument:
        with self._lock:
            info = self.retry.run(
                lambda: resolve_info(self._connection(), symbol),
                what=f"resolve {symbol}",
                on_retry=self._reconnect,
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

    def stream_tick_rows(
        self, symbols: Iterable[str], *, stop: threading.Event
    ) -> Iterator[list[TickRow]]:
        """The ticks of ``stream_ticks`` as plain rows, one list per frame (the collector's
        fast path: no ``Tick`` object per tick; see ``quotes``)."""
        symbols = list(symbols)
        if not symbols:
            raise ValueError("stream_tick_rows needs at least one symbol")
        yield from self._quote_stream(symbols, stop).batches()

    def _stream_ticks(self, symbols: list[str], stop: threading.Event) -> Iterator[Tick]:
        yield from self._quote_stream(symbols, stop)

    def _quote_stream(self, symbols: list[str], stop: threading.Event) -> QuoteStream:
        return QuoteStream(
            self._open_connection, symbols, stop, retry=self.retry, silence_s=3 * self.timeout
        )

    def close(self) -> None:
        with self._lock:
            self._drop()

    # ----- connection and token -----------------------------------------------------------

    def _connection(self) -> Connection:
        if self._conn is None or not self._conn.is_open:
            self._conn = self._open_connection()
        return self._conn

    def _open_connection(self) -> Connection:
        conn = Connection(self.url, self._auth_token(), timeout=self.timeout, timings=self.timings)
        try:
            conn.open()
        except BaseException:
            conn.close()
            raise
        return conn

    def _reconnect(self) -> None:
        """Called between attempts: the next attempt opens a fresh socket."""
        self.timings.reconnects += 1
        self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _auth_token(self) -> str:
        if self._token is None:
            self._token = (
                self._token_option
                or os.environ.get(TOKEN_ENV)
                or _airflow_token()
                or ANONYMOUS_TOKEN
            )
            log.info(
                "tradingview auth: %s",
                "anonymous" if self._token == ANONYMOUS_TOKEN else "token configured",
            )
        return self._token


def _airflow_token() -> str | None:
    """The password of connection ``tradingview_default``, if Airflow has one.

    Looked up inside a running Airflow task (the SDK already imported) or when the
    connection is defined in the environment; elsewhere importing Airflow would cost seconds
    and reconfigure logging for a lookup that cannot succeed.
    """
    if (
        "airflow.sdk" not in sys.modules
        and f"AIRFLOW_CONN_{AIRFLOW_CONN_ID.upper()}" not in os.environ
    ):
        return None
    try:
        from airflow.sdk import Connection as AirflowConnection
        from airflow.sdk.exceptions import AirflowNotFoundException
    except ImportError:
        return None
    try:
        conn: Any = AirflowConnection.get(AIRFLOW_CONN_ID)
    except AirflowNotFoundException:
        return None
    return conn.password or None
