"""``CcxtProvider``: bars, resolution and search for crypto exchanges through ccxt.

Built only on ``IDataProvider``: the base class normalises, trims and drops the forming bar;
this class maps a symbol to an exchange and a market, pages candles, and retries. The
exchange comes from the symbol's prefix (``BINANCE:XRPETH`` -> ``ccxt.binance``, market id
``XRPETH``, unified symbol ``XRP/ETH``), one instance per process (``exchange``).

Options (all keyword, all optional): ``urls`` (ccxt's own ``urls`` override, or exchange id ->
override; ``CANDLEFLOW_CCXT_URLS`` applies the same everywhere), ``config`` (anything else
ccxt's constructor takes, deep-merged), ``api_key``/``secret``/``password`` (else
``CANDLEFLOW_CCXT_<EXCHANGE>_API_KEY``/``_SECRET``/``_PASSWORD``; public candles need none),
``exchanges`` (symbol prefix -> ccxt id for prefixes that are not ids), ``market_type``,
``timeout``, ``max_retries``, ``backoff``, ``max_backoff``, ``limit`` (candles per request),
``markets_ttl`` (seconds before markets are reloaded), ``search_exchanges``.

Ticks are not offered: ccxt streams trades only through ``ccxt.pro``'s asyncio websockets,
whose Binance streams have no offline double here, and the tick model wants quotes (bid, ask,
session volume) that a trade stream lacks; BINANCE symbols stream through TradingView.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from candleflow.domain import UTC, Instrument, Timeframe, split_symbol
from candleflow.providers.base import Capability, IDataProvider
from candleflow.providers.ccxt import exchange as exchanges
from candleflow.providers.ccxt.bars import page_ohlcv, to_frame
from candleflow.providers.ccxt.markets import SEARCH_LIMIT, find_market, search_markets
from candleflow.providers.ccxt.markets import to_instrument as market_instrument
from candleflow.providers.ccxt.retry import Retry
from candleflow.providers.ccxt.timeframes import ccxt_timeframe, page_limit

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


class CcxtProvider(IDataProvider):
    """Crypto exchanges through ccxt (Binance first): deep kline history, public endpoints."""

    name: ClassVar[str] = "ccxt"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.BARS, Capability.RESOLVE, Capability.SEARCH}
    )

    def __init__(
        self,
        *,
        urls: Mapping[str, Any] | None = None,
        config: Mapping[str, Any] | None = None,
        api_key: str | None = None,
        secret: str | None = None,
        password: str | None = None,
        exchanges: Mapping[str, str] | None = None,
        market_type: str = "spot",
        timeout: float = 30.0,
        max_retries: int = 3,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        limit: int | None = None,
        markets_ttl: float = 3600.0,
        search_exchanges: Sequence[str] = ("BINANCE",),
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        if limit is not None and limit < 1:
            raise ValueError(f"limit must be >= 1 candles per request, got {limit}")
        for option, value in (("urls", urls), ("config", config), ("exchanges", exchanges)):
            if value is not None and not isinstance(value, Mapping):
                raise ValueError(f"{option} must be a mapping, got {type(value).__name__}")
        self._urls = dict(urls or {})
        self._config = dict(config or {})
        self._credentials = {
            k: v for k, v in (("apiKey", api_key), ("secret", secret), ("password", password)) if v
        }
        self.aliases = {k.upper(): v for k, v in (exchanges or {}).items()}
        self.market_type = market_type
        self.timeout = float(timeout)
        self.retry = Retry(attempts=max_retries + 1, base_delay=backoff, max_delay=max_backoff)
        self.limit = limit
        self.markets_ttl = float(markets_ttl)
        names = [search_exchanges] if isinstance(search_exchanges, str) else search_exchanges
        self.search_exchanges = [name.upper() for name in names]

    def __repr__(self) -> str:
        keys = "***" if self._credentials or _has_secret(self._config) else "none"
        return (
            f"<CcxtProvider market_type={self.market_type!r} credentials={keys} "
            f"timeout={self.timeout} max_retries={self.retry.attempts - 1}>"
        )

    # ----- transport primitives ---------------------------------------------------------

    def _fetch_bars(
        self, symbol: str, tf: Timeframe, start: dt.datetime, end: dt.datetime
    ) -> pd.DataFrame:
        handle, market = self._lookup(symbol)
        timeframe = ccxt_timeframe(handle.exchange, tf)
        limit = page_limit(handle.exchange, market, self.limit)
        began = time.perf_counter()
        rows, pages = page_ohlcv(
            lambda fn: self.retry.call(handle, fn, what=f"fetch_ohlcv {timeframe}", symbol=symbol),
            market["symbol"],
            timeframe,
            tf,
            start,
            end,
            limit,
        )
        log.info(
            "ccxt %s %s %s: %d requests of <= %d, %d candles in %.2fs",
            handle.id,
            symbol,
            tf,
            pages,
            limit,
            len(rows),
            time.perf_counter() - began,
        )
        frame = to_frame(rows)
        if handle.id in exchanges.DEEP_HISTORY and (
            not rows or rows[0][0] > start.timestamp() * 1e3
        ):
            listed = self._first_candle(handle, market, timeframe, symbol)
            if listed is not None and listed > start:  # the window begins before the listing
                frame.attrs["reachable_start"] = listed
        return frame

    def _resolve(self, symbol: str) -> Instrument:
        handle, market = self._lookup(symbol)
        return market_instrument(split_symbol(symbol)[0], handle.exchange, market)

    def _search(self, text: str, *, type: str | None, exchange: str | None) -> list[Instrument]:
        prefixes = [exchange.upper()] if exchange else self.search_exchanges
        found: list[tuple[int, str, Instrument]] = []
        for prefix in prefixes:
            handle = self._handle(prefix)
            self._load_markets(handle, prefix)
            found += [
                (rank, inst.symbol, inst)
                for rank, inst in search_markets(handle.exchange, prefix, text, type)
            ]
        found.sort(key=lambda item: item[:2])
        return [inst for _, _, inst in found[:SEARCH_LIMIT]]

    # ----- beyond the interface -----------------------------------------------------------

    def first_bar(self, symbol: str, timeframe: str | Timeframe = "1d") -> dt.datetime | None:
        """The open time of the oldest candle the exchange serves (the listing, on Binance).

        How a deep backfill finds where to start: one request, ``since=0, limit=1``. On
        exchanges of ``DEEP_HISTORY``, a window that begins before it comes back with
        ``frame.attrs["reachable_start"]`` set to it, so the loader audits the months before
        the listing as out of the provider's reach instead of as empty successes.
        """
        handle, market = self._lookup(symbol)
        tf = ccxt_timeframe(handle.exchange, Timeframe.parse(timeframe))
        return self._first_candle(handle, market, tf, symbol)

    def _first_candle(
        self, handle: exchanges.Handle, market: dict[str, Any], timeframe: str, symbol: str
    ) -> dt.datetime | None:
        """``first_bar``, asked once per market and timeframe in the process."""
        key = (market["id"], timeframe)
        if key not in handle.first_candles:
            rows = self.retry.call(
                handle,
                lambda ex: ex.fetch_ohlcv(market["symbol"], timeframe, since=0, limit=1),
                what=f"first {timeframe} candle",
                symbol=symbol,
            )
            first = dt.datetime.fromtimestamp(rows[0][0] / 1000, UTC) if rows else None
            handle.first_candles[key] = first
        return handle.first_candles[key]

    def close(self) -> None:
        """Nothing to release: the exchange instance is shared by the process (see module)."""

    # ----- exchange and markets -----------------------------------------------------------

    def _lookup(self, symbol: str) -> tuple[exchanges.Handle, dict[str, Any]]:
        prefix, ticker = split_symbol(symbol)
        handle = self._handle(prefix)
        self._load_markets(handle, symbol)
        market = find_market(handle.exchange, symbol, ticker, self.market_type)
        if market.get("active") is False:
            log.warning("ccxt %s: %s is inactive (delisted or halted)", handle.id, symbol)
        return handle, market

    def _handle(self, prefix: str) -> exchanges.Handle:
        exchange = exchanges.exchange_id(prefix.upper(), self.aliases)
        config = exchanges.deep_merge(
            exchanges.DEFAULTS,
            exchanges.EXCHANGE_DEFAULTS.get(exchange, {}),
            {"timeout": int(self.timeout * 1000)},
            {"urls": exchanges.env_urls().get(exchange, {})},
            {"urls": exchanges.urls_for(exchange, self._urls)},
            self._config,
            exchanges.credentials_from_env(exchange) if not self._credentials else {},
            self._credentials,
        )
        return exchanges.shared_exchange(exchange, config)

    def _load_markets(self, handle: exchanges.Handle, symbol: str) -> None:
        """Load (or reload, after ``markets_ttl``) the markets once, whatever the threads:
        staleness is checked again under the exchange's lock, so a chunk's concurrent
        fetches wait for one ``exchangeInfo`` instead of each asking for it."""
        if not handle.markets_stale(self.markets_ttl):
            return

        def load(ex: Any) -> None:
            if handle.markets_stale(self.markets_ttl):
                ex.load_markets(reload=handle.markets_loaded_at is not None)
                handle.markets_loaded_at = time.monotonic()
                log.info("ccxt %s: %d markets loaded", handle.id, len(ex.markets or {}))

        self.retry.call(handle, load, what="load_markets", symbol=symbol)


def _has_secret(config: Mapping[str, Any]) -> bool:
    return any(config.get(k) for k in exchanges.CREDENTIAL_KEYS)
