"""Instruments: when to ask a provider, and what a load may do with the answer.

The table's writer is ``db.instruments``. Two rules keep the instrument row out of the loads'
way (a load used to rewrite it inside its long transaction, so other timeframes of the symbol,
``instruments_sync`` and the collector's start waited for the whole load):

- **A row is written only when a value changed**, and that write is a short transaction of its
  own (``resolve_instruments``), committed before any load's transaction begins. Inside a load
  ``ensure_instrument`` of a known, unchanged instrument only reads.
- **A provider is asked only when the warehouse does not know the symbol or its facts are
  stale.** ``last_seen`` is when a provider last confirmed the row (rows made from a bare
  symbol, by tick imports or the collector, have no ``provider`` and count as never
  confirmed). A row confirmed within ``RESOLVE_MAX_AGE`` is used as stored. One day: the
  ``instruments_sync`` DAG confirms every watchlist symbol daily anyway, and exchange,
  timezone, session and price scale change far more rarely. So a load resolves a symbol at
  most once per window, usually never. ``instruments_sync`` always asks (``max_age=0``).

**One row per series session.** A symbol's regular and extended-hours series are two rows,
keyed by ``(symbol, series_session)`` (migration 0015): every table keyed by instrument id
then keeps the two apart. Look-ups take the session; a bare symbol is the regular series.

**One refusal stays with its symbol.** A symbol the table refuses (``BadInputError`` from
``db.instruments``) is kept as that symbol's failure while the other symbols of the same sync
or chunk are stored.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from candleflow.db import instruments
from candleflow.domain import Instrument
from candleflow.errors import (
    AuthenticationError,
    BadInputError,
    CandleflowError,
    ConfigError,
    failures_error,
)

log = logging.getLogger(__name__)

RESOLVE_MAX_AGE = dt.timedelta(days=1)


@dataclass(frozen=True)
class StoredInstrument:
    """An instrument as the warehouse holds it, with its id; ``resolved`` if a provider was
    asked for it by this call."""

    id: int
    instrument: Instrument
    resolved: bool = False


def resolve_instruments(
    provider,
    symbols: Iterable[str],
    *,
    url: str,
    max_age: dt.timedelta = RESOLVE_MAX_AGE,
) -> tuple[dict[str, StoredInstrument], dict[str, CandleflowError]]:
    """Each symbol's stored instrument, asking ``provider`` only for the missing or stale.

    Call it before a load's transaction: what a provider said is committed here, in one short
    transaction. One symbol's error (unknown, timeout) does not stop the others; a rejected
    token fails the symbols after it without asking again. The errors come back keyed by
    symbol, for the caller to fail or retry on. A
    provider that cannot resolve gets the stored row, or a row of defaults naming it.
    """
    from candleflow.db import connection
    from candleflow.providers import Capability

    symbols = list(dict.fromkeys(symbols))
    can_resolve = Capability.RESOLVE in provider.capabilities
    session = provider.session  # which series of each symbol the provider serves
    conn = connection.connect(url)
    try:
        with conn:
            stored = instruments.stored_rows(conn, symbols, session)
            cutoff = instruments.server_now(conn) - max_age
        found: dict[str, StoredInstrument] = {}
        fresh: dict[str, Instrument] = {}
        failed: dict[str, CandleflowError] = {}
        rejected: AuthenticationError | None = None
        for symbol in symbols:
            row = stored.get(symbol)
            if (conflict := _owner_conflict(symbol, row, provider.name)) is not None:
                failed[symbol] = conflict
                log.error("%s", conflict)
                continue
            confirmed = row is not None and row[8] != "" and row[1] >= cutoff
            confirmed = confirmed or (
                row is not None and row[8] != "" and provider.name in IMPORTERS
            )
            if row is not None and (confirmed or not can_resolve):
                found[symbol] = StoredInstrument(
                    row[0], instruments.instrument_of(symbol, row, session)
                )
            elif not can_resolve:
                fresh[symbol] = Instrument(symbol=symbol, provider=provider.name)
            elif rejected is not None:  # the token fails every symbol alike: never re-send it
                failed[symbol] = rejected
            else:
                try:
                    fresh[symbol] = _in_session(provider.resolve(symbol), session)
                except CandleflowError as exc:  # kept per symbol; the caller decides
                    failed[symbol] = exc
                    rejected = exc if isinstance(exc, AuthenticationError) else None
                    log.error("could not resolve %s: %s", symbol, exc)
        with conn:  # the short transaction: only what a provider just said
            for symbol, inst in fresh.items():
                try:
                    iid = instruments.ensure_instrument(conn, inst, confirm=can_resolve)
                except BadInputError as exc:  # refused by the table: this symbol only
                    failed[symbol] = exc
                    log.error("%s", exc)
                    continue
                found[symbol] = StoredInstrument(iid, inst, resolved=can_resolve)
    finally:
        conn.close()
    log.info(
        "instruments: %d stored and fresh, %d new or resolved, %d failed (max age %s)",
        len(found) - len(fresh),
        len(fresh),
        len(failed),
        max_age,
    )
    return found, failed


# Providers that import into any instrument (a vendor dump a user points at a symbol): they
# never take an owned instrument over, and a live provider may take one of theirs.
IMPORTERS = frozenset({"files"})


def _owner_conflict(symbol: str, row: tuple | None, name: str) -> ConfigError | None:
    """A live provider never loads a symbol another live provider owns (``row[8]``).

    Why: both store their bars under source ``provider`` (the key of ``bars``), so the
    second would overwrite the first's. The keying rule is in docs/providers.md ("ccxt").
    """
    owner = row[8] if row is not None else ""
    if not owner or owner == name or {owner, name} & IMPORTERS:
        return None
    return ConfigError(
        f"{symbol} is loaded by provider {owner!r}; {name!r} will not overwrite its bars. "  # noqa: S608 - a message quoting SQL
        f"Re-home it (UPDATE candleflow.instruments SET provider = '{name}' WHERE symbol = "
        f"'{symbol}') or give one provider another symbol prefix (docs/providers.md)"
    )


def resolve_instrument(
    provider, symbol: str, *, url: str, max_age: dt.timedelta = RESOLVE_MAX_AGE
) -> StoredInstrument:
    """``resolve_instruments`` for one symbol; its error, if any, is raised."""
    found, failed = resolve_instruments(provider, [symbol], url=url, max_age=max_age)
    if symbol in failed:
        raise failed[symbol]
    return found[symbol]


def resolve_and_store(
    symbols: Iterable[str] | str,
    *,
    provider: str = "tradingview",
    provider_options: dict | None = None,
    url: str,
) -> dict:
    """Resolve every symbol through the provider (always: this is the refresh) and store it.

    One failing symbol does not stop the others: they are all stored first, then one error
    names the failures: ``PermanentFailures`` when no retry can help (unknown symbols, a
    rejected token), else ``RetryableFailures`` so Airflow retries.
    """
    from candleflow.providers import get_provider

    symbols = [symbols] if isinstance(symbols, str) else list(symbols)
    with get_provider(provider, **(provider_options or {})) as prov:
        found, failed = resolve_instruments(prov, symbols, url=url, max_age=dt.timedelta(0))
    if failed:
        raise failures_error(dict(failed), what=f"resolving {len(symbols)} instruments")
    return {"stored": len(found), "symbols": sorted(found)}


def _in_session(instrument: Instrument, session: str) -> Instrument:
    """A resolved instrument as the row of its ``session`` series. An extended row's
    ``session`` is its exchange's extended hours (``0400-2000``), whatever the resolve said,
    so that validation's grid and the calendars follow the extended session."""
    from dataclasses import replace

    from candleflow import calendars

    if session == "regular":
        return instrument
    try:
        hours = calendars.extended_session(instrument.symbol)
    except ValueError as exc:
        raise BadInputError(str(exc)) from None
    return replace(instrument, session=hours, series_session=session)
