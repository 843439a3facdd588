"""``sync`` through the ccxt provider: the real Binance candles from the stub into PostgreSQL.

The oracle is pandas reading the freqtrade file the stub serves; the stored rows are read
back with plain SQL. The provider is named, not injected (``provider="ccxt"``), and pointed
at the stub by ``CANDLEFLOW_CCXT_URLS`` only: the path a DAG or ``candleflow sync`` takes.
"""

from __future__ import annotations

import datetime as dt
import io
import threading
from typing import ClassVar

import pandas as pd
import pytest

from candleflow.domain import BAR_COLUMNS, Instrument
from candleflow.errors import ConfigError, SymbolNotFound
from candleflow.providers.base import Capability, IDataProvider
from candleflow.providers.ccxt.exchange import URLS_ENV, forget_instances
from candleflow.providers.files import FileProvider, FileSource
from candleflow.services.sync import sync
from candleflow.testing.binance_markets import freqtrade_markets
from candleflow.testing.binance_stub import BinanceStub
from tests.support.shared_data import shared_data

pytestmark = pytest.mark.timeout(180)

UTC = dt.UTC
XRPETH = "BINANCE:XRPETH"
START, END = dt.datetime(2019, 10, 10, tzinfo=UTC), dt.datetime(2019, 10, 14, tzinfo=UTC)
OPTIONS = {"backoff": 0.01, "max_backoff": 0.5}


@pytest.fixture
def stub(monkeypatch):
    with BinanceStub(freqtrade_markets(shared_data("freqtrade").parent)) as srv:
        monkeypatch.setenv(URLS_ENV, srv.env[URLS_ENV])
        yield srv
    forget_instances()


@pytest.fixture(scope="module")
def xrpeth() -> pd.DataFrame:
    raw = pd.read_feather(shared_data("freqtrade/XRP_ETH-1m.feather"))
    return raw.rename(columns={"date": "ts"})[list(BAR_COLUMNS)]


def stored_bars(db, symbol: str) -> pd.DataFrame:
    with db.cursor() as cur:
        cur.execute(
            "SELECT b.ts, b.open, b.high, b.low, b.close, b.volume FROM candleflow.bars b"
            " JOIN candleflow.instruments i ON i.id = b.instrument_id"
            " WHERE i.symbol = %s AND b.timeframe = '1m' AND b.source = 'provider' ORDER BY b.ts",
            (symbol,),
        )
        rows = cur.fetchall()
    db.commit()
    return pd.DataFrame(rows, columns=list(BAR_COLUMNS))


def assert_stored_exactly(db, expected: pd.DataFrame) -> None:
    got = stored_bars(db, XRPETH)
    assert len(got) == len(expected)
    assert (pd.to_datetime(got["ts"], utc=True).to_numpy() == expected["ts"].to_numpy()).all()
    for column in BAR_COLUMNS[1:]:
        assert got[column].tolist() == expected[column].tolist(), column


def test_sync_stores_the_real_candles_exactly_and_a_rerun_changes_nothing(stub, xrpeth, db_url, db):
    first = sync(XRPETH, "1m", START, END, provider="ccxt", provider_options=OPTIONS, url=db_url)
    assert (first["rows_fetched"], first["rows_inserted"], first["rows_rejected"]) == (
        2469,
        2469,
        0,
    )
    assert_stored_exactly(db, xrpeth)
    assert stub.hits["klines"] >= 3  # paged past the 1,000 limit
    again = sync(XRPETH, "1m", START, END, provider="ccxt", provider_options=OPTIONS, url=db_url)
    assert (again["rows_inserted"], again["rows_updated"], again["rows_unchanged"]) == (0, 0, 2469)
    with db.cursor() as cur:
        cur.execute(
            "SELECT provider, type, currency, session, price_scale FROM candleflow.instruments"
            " WHERE symbol = %s",
            (XRPETH,),
        )
        assert cur.fetchone() == ("ccxt", "spot", "ETH", "24x7", 100_000_000)
        cur.execute("SELECT provider, outcome, rows_fetched FROM candleflow.load_audit ORDER BY id")
        assert cur.fetchall() == [("ccxt", "success", 2469), ("ccxt", "success", 2469)]


def test_a_transient_fault_during_sync_is_retried_and_everything_loads(stub, xrpeth, db_url, db):
    stub.fail("429", times=1, retry_after=0)
    stub.fail("drop", times=1)
    record = sync(XRPETH, "1m", START, END, provider="ccxt", provider_options=OPTIONS, url=db_url)
    assert record["rows_inserted"] == 2469
    assert_stored_exactly(db, xrpeth)


def test_an_unknown_symbol_fails_at_once_and_is_audited(stub, db_url, db):
    with pytest.raises(SymbolNotFound, match=r"'BINANCE:NOPE'.*binance lists no market"):
        sync("BINANCE:NOPE", "1m", START, END, provider="ccxt", url=db_url)
    assert stub.hits["klines"] == 0 and stub.hits["exchangeInfo"] == 1
    with db.cursor() as cur:
        cur.execute("SELECT symbol, provider, outcome, error FROM candleflow.load_audit")
        (symbol, provider, outcome, error), *rest = cur.fetchall()
    assert (symbol, provider, outcome, rest) == ("BINANCE:NOPE", "ccxt", "failed", [])
    assert "binance lists no market" in error


class OtherLive(IDataProvider):
    """A second live provider that also knows BINANCE:XRPETH (with different prices)."""

    name: ClassVar[str] = "other-live"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.BARS, Capability.RESOLVE})

    def __init__(self, bars: pd.DataFrame) -> None:
        self.bars = bars

    def _fetch_bars(self, symbol, tf, start, end) -> pd.DataFrame:
        return self.bars.assign(**{c: self.bars[c] * 2 for c in ("open", "high", "low", "close")})

    def _resolve(self, symbol: str) -> Instrument:
        return Instrument(symbol=symbol, provider=self.name)

    def _search(self, text, *, type, exchange):
        return []

    def _stream_ticks(self, symbols, stop: threading.Event):
        return iter(())


def test_another_live_provider_never_overwrites_the_owners_bars(stub, xrpeth, db_url, db):
    sync(XRPETH, "1m", START, END, provider="ccxt", provider_options=OPTIONS, url=db_url)
    with pytest.raises(ConfigError, match=r"loaded by provider 'ccxt'; 'other-live' will not"):
        sync(XRPETH, "1m", START, END, provider=OtherLive(xrpeth), url=db_url)
    assert_stored_exactly(db, xrpeth)


def test_a_file_import_may_fill_a_ccxt_instrument_without_taking_it_over(stub, xrpeth, db_url, db):
    sync(XRPETH, "1m", START, END, provider="ccxt", provider_options=OPTIONS, url=db_url)
    files = FileProvider(
        files={XRPETH: FileSource(shared_data("freqtrade/XRP_ETH-1m.feather"), "freqtrade_feather")}
    )
    record = sync(XRPETH, "1m", START, END, provider=files, url=db_url)
    assert record["rows_unchanged"] == 2469
    with db.cursor() as cur:
        cur.execute("SELECT provider FROM candleflow.instruments WHERE symbol = %s", (XRPETH,))
        assert cur.fetchone() == ("ccxt",)
    assert_stored_exactly(db, xrpeth)


def test_an_alias_prefix_keeps_a_second_copy_apart(stub, xrpeth, db_url, db):
    sync(XRPETH, "1m", START, END, provider=OtherLive(xrpeth), url=db_url)
    options = {**OPTIONS, "exchanges": {"BINANCE_CCXT": "binance"}}
    record = sync("BINANCE_CCXT:XRPETH", "1m", START, END, provider="ccxt",
                  provider_options=options, url=db_url)  # fmt: skip
    assert record["rows_inserted"] == 2469
    doubled = stored_bars(db, XRPETH)
    assert doubled["close"].tolist() == (xrpeth["close"] * 2).tolist()  # untouched


# ----- the command line -------------------------------------------------------------------

WINDOW = ["-t", "1m", "--start", "2019-10-10", "--end", "2019-10-14", "--provider", "ccxt"]


def test_candleflow_fetch_prints_the_real_candles(stub, xrpeth, capsys):
    from candleflow import cli

    assert cli.run(["fetch", XRPETH, *WINDOW, "-o", "backoff=0.01"]) == 0
    printed = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert len(printed) == 2469
    assert (pd.to_datetime(printed["ts"], utc=True).to_numpy() == xrpeth["ts"].to_numpy()).all()
    for column in BAR_COLUMNS[1:]:
        assert printed[column].tolist() == xrpeth[column].tolist(), column


def test_candleflow_sync_loads_them_and_an_unknown_symbol_is_one_clear_line(
    stub, xrpeth, db_url, db, capsys
):
    from candleflow import cli

    assert cli.run(["sync", XRPETH, *WINDOW]) == 0
    assert "2469 inserted" in capsys.readouterr().out
    assert_stored_exactly(db, xrpeth)
    assert cli.run(["sync", "BINANCE:NOPE", *WINDOW]) == 1
    err = capsys.readouterr().err
    assert "BINANCE:NOPE" in err and "binance lists no market with id 'NOPE'" in err
    assert "Traceback" not in err


def test_a_month_before_the_listing_is_audited_out_of_reach(stub, db_url, db):
    record = sync(XRPETH, "1m", "2019-09-01", "2019-10-01", provider="ccxt", url=db_url)
    assert record["outcome"] == "out_of_window"
    assert (record["rows_inserted"], record["rows_out_of_reach"]) == (0, 30 * 1440)
    with db.cursor() as cur:
        cur.execute("SELECT outcome FROM candleflow.load_audit")
        assert cur.fetchall() == [("out_of_window",)]
