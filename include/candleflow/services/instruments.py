"""Instruments: the one place that writes ``candleflow.instruments``, and when to ask a provider.

Two rules keep the instrument row out of the loads' way (a load used to rewrite it inside its
long transaction, so other timeframes of the symbol, ``instruments_sync`` and the collector's
start waited for the whole load):

- **A row is written only when a value changed**, and that write is a short transaction of its
  own (``resolve_instruments``), committed before any load's transaction begins. Inside a load
  ``ensure_instrument`` of a known, unchanged instrument only reads. The bar writer's
  ``FOR KEY SHARE`` check never conflicts with a metadata update (``FOR NO KEY UPDATE``).
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

**One refusal stays with its symbol.** Each write runs under a savepoint: a symbol the
table's checks refuse (``NASDAQ:AA PL``: whitespace) raises ``BadInputError`` naming the
symbol and the constraint, and ``resolve_instruments`` keeps it as that symbol's failure
while the other symbols of the same sync or chunk are stored.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import psycopg2

from candleflow.domain import Instrument, split_symbol
from candleflow.errors import (
    AuthenticationError,
    BadInputError,
    CandleflowError,
    ConfigError,
    failures_error,
)

log = logging.getLogger(__name__)

RESOLVE_MAX_AGE = dt.timedelta(days=1)

_FIELDS = ("description", "type", "currency", "timezone", "session", "price_scale", "provider")
_SELECT = (
    "SELECT symbol, id, last_seen, description, type, currency, timezone, session, price_scale,"
    " provider, active FROM candleflow.instruments"
    " WHERE symbol = ANY(%s) AND series_session = %s"
)
# A provider's empty description/type/currency/provider never erases a stored one.
_NEW = """
    COALESCE(NULLIF(EXCLUDED.description, ''), i.description),
    COALESCE(NULLIF(EXCLUDED.type, ''), i.type),
    COALESCE(NULLIF(EXCLUDED.currency, ''), i.currency),
    EXCLUDED.timezone, EXCLUDED.session, EXCLUDED.price_scale,
    COALESCE(NULLIF(EXCLUDED.provider, ''), i.provider), true"""
# The WHERE makes an unchanged row a no-op unless ``confirm`` (a provider just resolved it).
_UPSERT = """
INSERT INTO candleflow.instruments AS i
    (symbol, exchange, ticker, description, type, currency, timezone, session, price_scale,
     provider, series_session)
VALUES (%(symbol)s, %(exchange)s, %(ticker)s, %(description)s, %(type)s, %(currency)s,
        %(timezone)s, %(session)s, %(price_scale)s, %(provider)s, %(series_session)s)
ON CONFLICT (symbol, series_session) DO UPDATE SET
    (description, type, currency, timezone, session, price_scale, provider, active) = ({new}),
    last_seen = now()
WHERE %(confirm)s OR (i.description, i.type, i.currency, i.timezone, i.session, i.price_scale,
                      i.provider, i.active) IS DISTINCT FROM ({new})
RETURNING id
"""
_INSERT_BARE = """
INSERT INTO candleflow.instruments (symbol, exchange, ticker) VALUES (%s, %s, %s)
ON CONFLICT (symbol, series_session) DO NOTHING RETURNING id
"""


@dataclass(frozen=True)
class StoredInstrument:
    """An instrument as the warehouse holds it, with its id; ``resolved`` if a provider was
    asked for it by this call."""

    id: int
    instrument: Instrument
    resolved: bool = False


def ensure_instrument(conn, instrument: Instrument | str, *, confirm: bool = False) -> int:
    """The instrument's id, inserting or refreshing its row only when a value changed.

    Runs in the caller's transaction. A bare symbol (no provider metadata) inserts a row with
    defaults when missing and never touches an existing row; a known, unchanged instrument
    is only read (no row lock). ``confirm`` also stamps ``last_seen`` of an unchanged row.
    A row the table refuses raises ``BadInputError``; the caller's transaction stays usable.
    """
    if isinstance(instrument, str):
        stored = _stored(conn, [instrument]).get(instrument)
        if stored is not None:  # checked first: an INSERT would burn an identity value
            return stored[0]
        exchange, ticker = split_symbol(instrument)
        with _refusal(conn, instrument), conn.cursor() as cur:
            cur.execute(_INSERT_BARE, (instrument, exchange, ticker))
            row = cur.fetchone()
        return row[0] if row else _stored(conn, [instrument])[instrument][0]
    symbol, session = instrument.symbol, instrument.series_session
    if not confirm:
        stored = _stored(conn, [symbol], session).get(symbol)
        if stored is not None and not _differs(stored, instrument):
            return stored[0]
    exchange, ticker = split_symbol(symbol)
    params = {f: getattr(instrument, f) for f in _FIELDS}
    params.update(
        symbol=symbol, exchange=exchange, ticker=ticker, confirm=confirm, series_session=session
    )
    with _refusal(conn, symbol), conn.cursor() as cur:
        cur.execute(_upsert(), params)
        row = cur.fetchone()
    # No row: someone stored exactly these values since we looked; nothing to write.
    return row[0] if row else _stored(conn, [symbol], session)[symbol][0]


@contextlib.contextmanager
def _refusal(conn, symbol: str) -> Iterator[None]:
    """Run one instrument's write under a savepoint; a refused row becomes ``BadInputError``.

    Only what the table refuses (a check, a not-null, a value too long) is translated: the
    savepoint is rolled back so the caller's transaction (and its other instruments) goes on.
    """
    with conn.cursor() as cur:
        cur.execute("SAVEPOINT cf_instrument")
    try:
        yield
    except (psycopg2.IntegrityError, psycopg2.DataError) as exc:
        with conn.cursor() as cur:
            cur.execute("ROLLBACK TO SAVEPOINT cf_instrument")
        reason = str(exc).strip().splitlines()[0]
        raise BadInputError(
            f"instrument {symbol!r} refused by candleflow.instruments: {reason}"
        ) from None
    with conn.cursor() as cur:
        cur.execute("RELEASE SAVEPOINT cf_instrument")


def load_instrument(conn, symbol: str, session: str = "regular") -> Instrument | None:
    """The stored instrument of ``symbol``'s ``session`` series, or None."""
    stored = _stored(conn, [symbol], session).get(symbol)
    return _instrument(symbol, stored, session) if stored else None


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
            stored = _stored(conn, symbols, session)
            cutoff = _now(conn) - max_age
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
                found[symbol] = StoredInstrument(row[0], _instrument(symbol, row, session))
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
                    iid = ensure_instrument(conn, inst, confirm=can_resolve)
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


def _upsert():
    """``_UPSERT`` with the merge expression composed in twice (``psycopg2.sql``)."""
    from psycopg2 import sql

    return sql.SQL(_UPSERT).format(new=sql.SQL(_NEW))


def _stored(conn, symbols: list[str], session: str = "regular") -> dict[str, tuple]:
    """symbol -> (id, last_seen, description, ..., provider, active) of the stored rows of
    the ``session`` series."""
    with conn.cursor() as cur:
        cur.execute(_SELECT, (symbols, session))
        return {row[0]: row[1:] for row in cur.fetchall()}


def _instrument(symbol: str, row: tuple, session: str = "regular") -> Instrument:
    return Instrument(symbol, *row[2:9], series_session=session)


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


def _differs(row: tuple, instrument: Instrument) -> bool:
    """Whether upserting ``instrument`` would change the stored ``row`` (as ``_NEW`` merges)."""
    stored = _instrument(instrument.symbol, row)
    merged = [
        getattr(instrument, f) or getattr(stored, f)
        if f in ("description", "type", "currency", "provider")
        else getattr(instrument, f)
        for f in _FIELDS
    ]
    return merged != [getattr(stored, f) for f in _FIELDS] or not row[9]


def _now(conn) -> dt.datetime:
    """The server's clock, the one ``last_seen`` was stamped with."""
    with conn.cursor() as cur:
        cur.execute("SELECT now()")
        return cur.fetchone()[0]
