"""``services.instruments`` and its writer ``db.instruments``: the row is written only when a
value changed, a known instrument is read without a row lock, and a fresh one is not resolved
from the provider again."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from candleflow.db import connection
from candleflow.db.instruments import ensure_instrument, load_instrument
from candleflow.domain import Instrument
from candleflow.errors import (
    AuthenticationError,
    DatabaseUnavailable,
    PermanentFailures,
    SymbolNotFound,
)
from candleflow.providers import get_provider
from candleflow.services.instruments import (
    RESOLVE_MAX_AGE,
    resolve_and_store,
    resolve_instrument,
    resolve_instruments,
)
from candleflow.testing import ReplayServer

pytestmark = pytest.mark.timeout(180)

AAPL = Instrument(
    symbol="NASDAQ:AAPL",
    description="Apple Inc.",
    type="stock",
    currency="USD",
    timezone="America/New_York",
    session="0930-1600",
    price_scale=100,
    provider="tradingview",
)


def row_version(db, symbol: str) -> tuple:
    """The row's xmin (changes on every write of the row) and last_seen."""
    with db, db.cursor() as cur:
        cur.execute(
            "SELECT xmin::text, last_seen FROM candleflow.instruments WHERE symbol = %s", (symbol,)
        )
        return cur.fetchone()


def test_unchanged_instrument_is_read_without_a_write_or_a_row_lock(db_url, db):
    with db:
        first_id = ensure_instrument(db, AAPL)
    before = row_version(db, AAPL.symbol)
    holder = connection.connect(db_url)
    try:
        with holder.cursor() as cur:  # a load's transaction, left open
            assert ensure_instrument(holder, AAPL) == first_id
            assert ensure_instrument(holder, AAPL.symbol) == first_id  # bare: also read only
            other = connection.connect(db_url)
            try:
                with other, other.cursor() as ocur:
                    # NOWAIT: raises at once if the open transaction held any lock on the row.
                    ocur.execute(
                        "SELECT id FROM candleflow.instruments WHERE symbol = %s FOR UPDATE NOWAIT",
                        (AAPL.symbol,),
                    )
                    assert ocur.fetchone() == (first_id,)
            finally:
                other.close()
            cur.execute("SELECT 1")
    finally:
        holder.rollback()
        holder.close()
    assert row_version(db, AAPL.symbol) == before


def test_a_changed_value_is_written_and_stamped(db):
    with db:
        iid = ensure_instrument(db, AAPL)
    xmin, seen = row_version(db, AAPL.symbol)
    moved = dataclasses.replace(AAPL, session="0400-2000")
    with db:
        assert ensure_instrument(db, moved) == iid
    xmin2, seen2 = row_version(db, AAPL.symbol)
    assert xmin2 != xmin and seen2 > seen
    assert load_instrument(db, AAPL.symbol).session == "0400-2000"


def test_a_bare_symbol_never_overwrites_what_a_provider_said(db):
    with db:
        ensure_instrument(db, "NASDAQ:AAPL")  # tick import first: defaults
        assert load_instrument(db, "NASDAQ:AAPL").session == "24x7"
        ensure_instrument(db, AAPL)
        ensure_instrument(db, "NASDAQ:AAPL")
    assert load_instrument(db, "NASDAQ:AAPL") == AAPL
    # An empty description from a provider keeps the stored one (and so writes nothing).
    before = row_version(db, AAPL.symbol)
    with db:
        ensure_instrument(db, dataclasses.replace(AAPL, description=""))
    assert row_version(db, AAPL.symbol) == before


def test_a_fresh_instrument_is_not_resolved_again_a_stale_or_bare_one_is(db_url, db):
    with ReplayServer(seed=1) as srv, get_provider("tradingview", url=srv.url, timeout=10) as tv:

        def resolves() -> int:
            return srv.stats.methods["resolve_symbol"]

        with db:
            ensure_instrument(db, "BINANCE:BTCUSDT")  # known only as a bare symbol
        first = resolve_instrument(tv, "NASDAQ:AAPL", url=db_url)
        assert first.resolved and first.instrument.timezone == "America/New_York"
        assert resolves() == 1
        again = resolve_instrument(tv, "NASDAQ:AAPL", url=db_url)
        assert (again.id, again.instrument, again.resolved) == (first.id, first.instrument, False)
        assert resolves() == 1

        bare = resolve_instrument(tv, "BINANCE:BTCUSDT", url=db_url)
        assert bare.resolved and resolves() == 2
        assert load_instrument(db, "BINANCE:BTCUSDT").provider == "tradingview"

        with db, db.cursor() as cur:  # confirmed longer ago than the max age
            cur.execute(
                "UPDATE candleflow.instruments SET last_seen = now() - %s WHERE symbol = %s",
                (RESOLVE_MAX_AGE + dt.timedelta(minutes=1), "NASDAQ:AAPL"),
            )
        stale_seen = row_version(db, "NASDAQ:AAPL")[1]
        assert resolve_instrument(tv, "NASDAQ:AAPL", url=db_url).resolved
        assert resolves() == 3
        assert row_version(db, "NASDAQ:AAPL")[1] > stale_seen  # confirmed again


def test_one_unknown_symbol_does_not_stop_the_others(db_url, db):
    with ReplayServer(seed=1) as srv, get_provider("tradingview", url=srv.url, timeout=10) as tv:
        found, failed = resolve_instruments(
            tv, ["NASDAQ:AAPL", "NASDAQ:BADONE", "NYSE:SCGLY"], url=db_url
        )
    assert sorted(found) == ["NASDAQ:AAPL", "NYSE:SCGLY"]
    assert list(failed) == ["NASDAQ:BADONE"] and isinstance(failed["NASDAQ:BADONE"], SymbolNotFound)
    assert load_instrument(db, "NASDAQ:BADONE") is None
    assert load_instrument(db, "NYSE:SCGLY").description == "Société Générale 😀"


def test_refresh_always_asks_the_provider_and_fails_permanently_on_unknown_symbols(db_url):
    with ReplayServer(seed=1) as srv:
        options = {"url": srv.url, "timeout": 10}
        resolve_and_store(["NASDAQ:AAPL"], provider_options=options, url=db_url)
        with pytest.raises(PermanentFailures, match="NASDAQ:BADONE") as info:
            resolve_and_store(
                ["NASDAQ:AAPL", "NASDAQ:BADONE"], provider_options=options, url=db_url
            )
        assert srv.stats.methods["resolve_symbol"] == 3  # AAPL twice: a refresh never skips
    assert isinstance(info.value.failures["NASDAQ:BADONE"], SymbolNotFound)


def test_an_unreachable_warehouse_is_named_before_the_provider_is_asked():
    tv = get_provider("tradingview", url="ws://127.0.0.1:1/socket.io/websocket", timeout=1)
    with pytest.raises(DatabaseUnavailable, match=r"127\.0\.0\.1:1"):
        resolve_instrument(tv, "NASDAQ:AAPL", url="postgresql://x@127.0.0.1:1/nope")


def test_a_rejected_token_is_sent_once_not_once_per_symbol(db_url):
    with (
        ReplayServer(seed=1, scenario="bad_token") as srv,
        get_provider("tradingview", url=srv.url, timeout=10, token="not-a-token") as tv,
    ):
        found, failed = resolve_instruments(tv, ["NASDAQ:AAPL", "BINANCE:BTCUSDT"], url=db_url)
        assert found == {}
        assert sorted(failed) == ["BINANCE:BTCUSDT", "NASDAQ:AAPL"]
        assert all(isinstance(exc, AuthenticationError) for exc in failed.values())
        assert srv.stats.methods["set_auth_token"] == 1
