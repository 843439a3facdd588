"""``resolve_and_store`` (the ``instruments_sync`` DAG's task): the replay server's
symbol info lands in ``instruments``; an unknown symbol fails the task after the others
are stored."""

from __future__ import annotations

import pytest

from candleflow.errors import PermanentFailures, SymbolNotFound
from candleflow.services.instruments import resolve_and_store
from candleflow.testing import ReplayServer

pytestmark = pytest.mark.timeout(120)


def test_symbols_are_resolved_and_stored_and_an_unknown_one_fails_last(db_url, db):
    with ReplayServer(seed=1) as srv:
        options = {"url": srv.url, "timeout": 10}
        with pytest.raises(PermanentFailures, match="NASDAQ:BADONE") as info:
            resolve_and_store(
                ["NASDAQ:AAPL", "NASDAQ:BADONE", "BINANCE:BTCUSDT"],
                provider_options=options,
                url=db_url,
            )
        assert list(info.value.failures) == ["NASDAQ:BADONE"]
        assert isinstance(info.value.failures["NASDAQ:BADONE"], SymbolNotFound)
        assert resolve_and_store(["NYSE:SCGLY"], provider_options=options, url=db_url) == {
            "stored": 1,
            "symbols": ["NYSE:SCGLY"],
        }
    with db.cursor() as cur:
        cur.execute(
            "SELECT symbol, exchange, timezone, description FROM candleflow.instruments"
            " ORDER BY symbol"
        )
        rows = cur.fetchall()
    assert [r[0] for r in rows] == ["BINANCE:BTCUSDT", "NASDAQ:AAPL", "NYSE:SCGLY"]
    assert rows[1][1:3] == ("NASDAQ", "America/New_York")
    assert rows[2][3] == "Société Générale 😀"  # the astral character survived the framing
