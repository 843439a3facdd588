"""Instruments: the one place that writes ``candleflow.instruments``.

Every command that loads data for a symbol first makes sure the instrument exists and
gets its id; what a provider says about it (description, session, ...) refreshes the row.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from candleflow.domain import Instrument, split_symbol

log = logging.getLogger(__name__)

_UPSERT = """
INSERT INTO candleflow.instruments
    (symbol, exchange, ticker, description, type, currency, timezone, session, price_scale,
     provider)
VALUES (%(symbol)s, %(exchange)s, %(ticker)s, %(description)s, %(type)s, %(currency)s,
        %(timezone)s, %(session)s, %(price_scale)s, %(provider)s)
ON CONFLICT (symbol) DO UPDATE SET
    description = COALESCE(NULLIF(EXCLUDED.description, ''), instruments.description),
    type        = COALESCE(NULLIF(EXCLUDED.type, ''), instruments.type),
    currency    = COALESCE(NULLIF(EXCLUDED.currency, ''), instruments.currency),
    timezone    = CASE WHEN %(known)s THEN EXCLUDED.timezone ELSE instruments.timezone END,
    session     = CASE WHEN %(known)s THEN EXCLUDED.session ELSE instruments.session END,
    price_scale = CASE WHEN %(known)s THEN EXCLUDED.price_scale ELSE instruments.price_scale END,
    provider    = COALESCE(NULLIF(EXCLUDED.provider, ''), instruments.provider),
    active      = true,
    last_seen   = now()
RETURNING id
"""


def ensure_instrument(conn, instrument: Instrument | str) -> int:
    """Insert or refresh an instrument; returns its id. Runs in the caller's transaction.

    A bare symbol (no provider metadata) creates a row with defaults but never overwrites
    what a provider said earlier about its timezone, session or scale.
    """
    known = isinstance(instrument, Instrument)
    if not known:
        instrument = Instrument(symbol=instrument)
    exchange, ticker = split_symbol(instrument.symbol)
    params = {
        "symbol": instrument.symbol,
        "exchange": exchange,
        "ticker": ticker,
        "description": instrument.description,
        "type": instrument.type,
        "currency": instrument.currency,
        "timezone": instrument.timezone,
        "session": instrument.session,
        "price_scale": instrument.price_scale,
        "provider": instrument.provider,
        "known": known,
    }
    with conn.cursor() as cur:
        cur.execute(_UPSERT, params)
        return cur.fetchone()[0]


def load_instrument(conn, symbol: str) -> Instrument | None:
    """The stored instrument for ``symbol``, or None."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT symbol, description, type, currency, timezone, session, price_scale, provider"
            " FROM candleflow.instruments WHERE symbol = %s",
            (symbol,),
        )
        row = cur.fetchone()
    return Instrument(*row) if row else None


def sync_instruments(conn, instruments: Iterable[Instrument]) -> dict[str, int]:
    """Upsert several instruments in the caller's transaction; symbol -> id."""
    ids = {i.symbol: ensure_instrument(conn, i) for i in instruments}
    log.info("synced %d instruments", len(ids))
    return ids


def resolve_and_store(
    symbols: Iterable[str] | str,
    *,
    provider: str = "tradingview",
    provider_options: dict | None = None,
    url: str | None = None,
) -> dict:
    """Resolve each symbol through the provider and upsert it.

    One unknown symbol does not stop the others: they are all stored, then the failures
    are raised together so the task fails and names them.
    """
    from candleflow.db import connection
    from candleflow.errors import ProviderError, SymbolNotFound
    from candleflow.providers import get_provider

    symbols = [symbols] if isinstance(symbols, str) else list(symbols)
    stored: dict[str, int] = {}
    failed: dict[str, str] = {}
    with get_provider(provider, **(provider_options or {})) as prov:
        resolved = []
        for symbol in symbols:
            try:
                resolved.append(prov.resolve(symbol))
            except (SymbolNotFound, ProviderError) as exc:
                failed[symbol] = str(exc)
                log.error("could not resolve %s: %s", symbol, exc)
    with connection.transaction(url) as conn:
        stored = sync_instruments(conn, resolved)
    if failed:
        raise SymbolNotFound(
            ", ".join(sorted(failed)), reason=f"{len(failed)} of {len(symbols)} failed"
        )
    return {"stored": len(stored), "symbols": sorted(stored)}
