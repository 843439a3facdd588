"""``candleflow.instruments``: the one writer of the table, and its reads.

**A row is written only when a value changed.** ``ensure_instrument`` of a known, unchanged
instrument only reads (no row lock), so a load's long transaction never holds the row: the bar
writer's ``FOR KEY SHARE`` check never conflicts with a metadata update (``FOR NO KEY
UPDATE``). When to ask a provider for the values is ``services.instruments``' policy.

**One refusal stays with its symbol.** Each write runs under a savepoint: a symbol the table's
checks refuse (``NASDAQ:AA PL``: whitespace) raises ``BadInputError`` naming the symbol and the
constraint, and the caller's transaction (its other symbols) goes on.

**One row per series session.** A symbol's regular and extended-hours series are two rows,
keyed by ``(symbol, series_session)``: every table keyed by instrument id then keeps the two
apart. Look-ups take the session; a bare symbol is the regular series.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator

import psycopg2

from candleflow.domain import Instrument, split_symbol
from candleflow.errors import BadInputError

FIELDS = ("description", "type", "currency", "timezone", "session", "price_scale", "provider")
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


def ensure_instrument(conn, instrument: Instrument | str, *, confirm: bool = False) -> int:
    """The instrument's id, inserting or refreshing its row only when a value changed.

    Runs in the caller's transaction. A bare symbol (no provider metadata) inserts a row with
    defaults when missing and never touches an existing row; a known, unchanged instrument
    is only read (no row lock). ``confirm`` also stamps ``last_seen`` of an unchanged row.
    A row the table refuses raises ``BadInputError``; the caller's transaction stays usable.
    """
    if isinstance(instrument, str):
        stored = stored_rows(conn, [instrument]).get(instrument)
        if stored is not None:  # checked first: an INSERT would burn an identity value
            return stored[0]
        exchange, ticker = split_symbol(instrument)
        with _refusal(conn, instrument), conn.cursor() as cur:
            cur.execute(_INSERT_BARE, (instrument, exchange, ticker))
            row = cur.fetchone()
        return row[0] if row else stored_rows(conn, [instrument])[instrument][0]
    symbol, session = instrument.symbol, instrument.series_session
    if not confirm:
        stored = stored_rows(conn, [symbol], session).get(symbol)
        if stored is not None and not differs(stored, instrument):
            return stored[0]
    exchange, ticker = split_symbol(symbol)
    params = {f: getattr(instrument, f) for f in FIELDS}
    params.update(
        symbol=symbol, exchange=exchange, ticker=ticker, confirm=confirm, series_session=session
    )
    with _refusal(conn, symbol), conn.cursor() as cur:
        cur.execute(_upsert(), params)
        row = cur.fetchone()
    # No row: someone stored exactly these values since we looked; nothing to write.
    return row[0] if row else stored_rows(conn, [symbol], session)[symbol][0]


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
    stored = stored_rows(conn, [symbol], session).get(symbol)
    return instrument_of(symbol, stored, session) if stored else None


def _upsert():
    """``_UPSERT`` with the merge expression composed in twice (``psycopg2.sql``)."""
    from psycopg2 import sql

    return sql.SQL(_UPSERT).format(new=sql.SQL(_NEW))


def stored_rows(conn, symbols: list[str], session: str = "regular") -> dict[str, tuple]:
    """symbol -> (id, last_seen, description, ..., provider, active) of the stored rows of
    the ``session`` series (a bare symbol is the regular series)."""
    with conn.cursor() as cur:
        cur.execute(_SELECT, (symbols, session))
        return {row[0]: row[1:] for row in cur.fetchall()}


def instrument_of(symbol: str, row: tuple, session: str = "regular") -> Instrument:
    return Instrument(symbol, *row[2:9], series_session=session)


def differs(row: tuple, instrument: Instrument) -> bool:
    """Whether upserting ``instrument`` would change the stored ``row`` (as ``_NEW`` merges)."""
    stored = instrument_of(instrument.symbol, row, instrument.series_session)
    merged = [
        getattr(instrument, f) or getattr(stored, f)
        if f in ("description", "type", "currency", "provider")
        else getattr(instrument, f)
        for f in FIELDS
    ]
    return merged != [getattr(stored, f) for f in FIELDS] or not row[9]


def server_now(conn) -> dt.datetime:
    """The server's clock, the one ``last_seen`` was stamped with."""
    with conn.cursor() as cur:
        cur.execute("SELECT now()")
        return cur.fetchone()[0]
