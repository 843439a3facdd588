"""Markets: a symbol's ticker to its ccxt market, a market to an ``Instrument``, and search.

The ticker of ``BINANCE:XRPETH`` is the exchange's own market id (``XRPETH``), the spelling
TradingView uses too, so one market has one symbol in the warehouse whichever provider loaded
it; ccxt's unified symbol (``XRP/ETH``) is kept in ``Instrument.extra``. Where one id names
several markets (spot and a perpetual), the spot market wins unless the option
``market_type`` says otherwise. Everything is answered from ``load_markets``, which ccxt
caches on the shared instance: resolving a thousand symbols costs one request.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

from candleflow.domain import Instrument
from candleflow.errors import SymbolNotFound

PROVIDER_NAME = "ccxt"
SEARCH_LIMIT = 50


def find_market(
    exchange: Any, symbol: str, ticker: str, market_type: str = "spot"
) -> dict[str, Any]:
    """The market whose exchange id is ``ticker``; ``SymbolNotFound`` names the exchange."""
    found = (exchange.markets_by_id or {}).get(ticker) or []
    if isinstance(found, dict):  # ccxt < 4 kept one market per id
        found = [found]
    if found:
        return next((m for m in found if m.get("type") == market_type), found[0])
    loaded = len(exchange.markets or {})
    # A unified symbol (XRP/ETH) never gets here: the symbol rule refuses '/' at every door
    # (domain.check_symbol), suggesting the market id.
    close = difflib.get_close_matches(ticker, list(exchange.markets_by_id or {}), n=3)
    hint = f"closest ids: {', '.join(close)}" if close else "no similar market id"
    raise SymbolNotFound(
        symbol, reason=f"{exchange.id} lists no market with id {ticker!r} ({loaded} loaded; {hint})"
    )


def to_instrument(prefix: str, exchange: Any, market: dict[str, Any]) -> Instrument:
    """What the warehouse stores about a market: 24x7 UTC, price scale from the tick size."""
    kind = market.get("type") or "spot"
    return Instrument(
        symbol=f"{prefix}:{market['id']}",
        description=f"{market['base']} / {market['quote']} ({kind}) on {exchange.name}",
        type=kind,
        currency=market.get("quote") or "",
        timezone="Etc/UTC",
        session="24x7",
        price_scale=price_scale(exchange, market),
        provider=PROVIDER_NAME,
        extra={
            "exchange_id": exchange.id,
            "market_id": market["id"],
            "ccxt_symbol": market["symbol"],
            "base": market.get("base"),
            "quote": market.get("quote"),
            "active": market.get("active") is not False,
            "tick_size": (market.get("precision") or {}).get("price"),
        },
    )


def price_scale(exchange: Any, market: dict[str, Any]) -> int:
    """Price units per 1 (TradingView's ``pricescale``): 1e8 for a 0.00000001 tick."""
    import ccxt

    precision = (market.get("precision") or {}).get("price")
    if precision is None:
        return 100_000_000  # unknown: fine enough for any crypto quote
    try:
        if exchange.precisionMode == ccxt.DECIMAL_PLACES:
            return 10 ** int(precision)
        tick = Decimal(str(precision))
        if exchange.precisionMode == ccxt.SIGNIFICANT_DIGITS or tick <= 0:
            return 100_000_000
    except (InvalidOperation, ValueError):
        return 100_000_000
    return max(1, int((1 / tick).to_integral_value()))


def search_markets(
    exchange: Any, prefix: str, text: str, type: str | None
) -> Iterator[tuple[int, Instrument]]:
    """(rank, instrument) for each market matching ``text``: 0 exact id, 1 base, 2 prefix, 3 any."""
    wanted = text.upper().replace("/", "").replace("-", "").replace(":", "").strip()
    for market in _markets(exchange):
        if type and type not in (market.get("type"), "crypto"):
            continue
        rank = _rank(market, wanted)
        if rank is not None:
            yield rank, to_instrument(prefix, exchange, market)


def _markets(exchange: Any) -> Iterable[dict[str, Any]]:
    return (exchange.markets or {}).values()


def _rank(market: dict[str, Any], wanted: str) -> int | None:
    market_id = str(market.get("id", "")).upper()
    joined = f"{market.get('base', '')}{market.get('quote', '')}".upper()
    if not wanted or wanted in (market_id, joined):
        return 0
    if wanted == str(market.get("base", "")).upper():
        return 1
    if market_id.startswith(wanted) or joined.startswith(wanted):
        return 2
    if wanted in market_id or wanted in joined:
        return 3
    return None
