"""Chunks of symbols through one provider: isolation, resume, slices, the close rule and the
provider's lookback window. The real TradingView client against the replay server, a real
PostgreSQL; the oracle is ``synthetic.bars`` (what the server serves).
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import ClassVar

import pandas as pd
import pytest

from candleflow.domain import Instrument
from candleflow.errors import (
    BadInputError,
    ProviderDisconnected,
    SymbolNotFound,
    TransientError,
    failures_error,
)
from candleflow.providers import Capability, IDataProvider
from candleflow.services.chunk import sync_chunk
from candleflow.services.sync import settings_for
from candleflow.testing import ReplayServer
from tests.support.bars import closed_bars, stored_bars

START = dt.datetime(2024, 3, 4, tzinfo=dt.UTC)
END = dt.datetime(2024, 3, 6, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def server():
    with ReplayServer(seed=3, now=END.timestamp() + 60) as srv:
        yield srv


def tv(srv, scenario: str | None = None, **extra) -> dict:
    url = srv.url + (f"?scenario={scenario}" if scenario else "")
    return {"url": url, "timeout": 10, "backoff": 0.05, **extra}


def closed(symbol, lo, hi, tf="1h", seed=3) -> pd.DataFrame:
    """The served bars of ``symbol`` whose end is in (lo, hi] (this module's server: seed 3)."""
    return closed_bars(symbol, lo, hi, seed, tf)


def audit_count(db, **where) -> dict[str, int]:
    with db.cursor() as cur:
        cur.execute(
            "SELECT symbol, count(*) FROM candleflow.load_audit"
            " WHERE run_id = %(run_id)s GROUP BY symbol",
            where,
        )
        return dict(cur.fetchall())


def test_a_bad_symbol_is_kept_apart_and_a_retry_redoes_only_it(server, db_url, db):
    symbols = ["NYSE:IBM", "NASDAQ:BADSYM", "BINANCE:BTCUSDT"]
    first = sync_chunk(
        symbols, "1h", START, END, settings_for(run_id="r", url=db_url, clear_number=0),
        provider_options=tv(server), resume=True,
    )  # fmt: skip
    assert {s.symbol: s.outcome for s in first.symbols} == {
        "NYSE:IBM": "success",
        "NASDAQ:BADSYM": "failed",
        "BINANCE:BTCUSDT": "success",
    }
    assert isinstance(first.failures["NASDAQ:BADSYM"], SymbolNotFound)
    for symbol in ("NYSE:IBM", "BINANCE:BTCUSDT"):
        pd.testing.assert_frame_equal(stored_bars(db, symbol), closed(symbol, START, END))
    # The per-symbol table names every symbol with its counts and outcome.
    table = first.table().splitlines()
    assert table[1].split() == ["symbol", "fetched", "inserted", "updated", "rejected", "outcome"]
    ibm = next(line.split() for line in table if line.startswith("NYSE:IBM"))
    n = str(len(closed("NYSE:IBM", START, END)))
    assert ibm == ["NYSE:IBM", n, n, "0", "0", "success"]

    # The retry of the same run (same clear number) redoes only what did not succeed.
    again = sync_chunk(
        symbols, "1h", START, END, settings_for(run_id="r", url=db_url, clear_number=0),
        provider_options=tv(server), resume=True,
    )  # fmt: skip
    assert [s.outcome for s in again.symbols] == ["skipped", "failed", "skipped"]
    assert audit_count(db, run_id="r") == {"NYSE:IBM": 1, "NASDAQ:BADSYM": 2, "BINANCE:BTCUSDT": 1}

    # Clearing the run (a new clear number) redoes everything; nothing changes.
    cleared = sync_chunk(
        symbols, "1h", START, END, settings_for(run_id="r", url=db_url, clear_number=1),
        provider_options=tv(server), resume=True,
    )  # fmt: skip
    assert [s.outcome for s in cleared.symbols] == ["success", "failed", "success"]
    assert cleared.totals()["rows_inserted"] == cleared.totals()["rows_updated"] == 0


def test_a_transient_failure_fails_retryably_and_its_retry_loads_only_that_symbol(
    server, db_url, db
):
    # disconnect_mid_page cuts each symbol's first page once per server: cut IBM's and BTC's
    # now (the provider's own retry recovers), so that in the chunk only SPY's is cut.
    warm = settings_for(run_id="warm", url=db_url)
    sync_chunk(
        ["NYSE:IBM", "BINANCE:BTCUSDT"], "1h", START, START + HOUR, warm,
        provider_options=tv(server, "disconnect_mid_page"),
    )  # fmt: skip
    symbols = ["NYSE:IBM", "AMEX:SPY", "BINANCE:BTCUSDT"]
    options = tv(server, "disconnect_mid_page", max_retries=0)
    run = settings_for(run_id="r", url=db_url, clear_number=0)
    first = sync_chunk(symbols, "1h", START, END, run, provider_options=options, resume=True)
    assert list(first.failures) == ["AMEX:SPY"]
    assert isinstance(first.failures["AMEX:SPY"], ProviderDisconnected)
    assert isinstance(failures_error(first.failures, what="chunk"), TransientError)

    retry = sync_chunk(symbols, "1h", START, END, run, provider_options=options, resume=True)
    assert [s.outcome for s in retry.symbols] == ["skipped", "success", "skipped"]
    for symbol in symbols:
        pd.testing.assert_frame_equal(stored_bars(db, symbol), closed(symbol, START, END))


def test_an_xnys_bar_belongs_to_the_window_it_closes_in(server, db_url, db):
    # 5 March 2024 (EST): NYSE's first 1h bar is 14:30-15:30 UTC; BTC's bars are on the hour.
    day = dt.datetime(2024, 3, 5, tzinfo=dt.UTC)
    for hour in range(24):
        lo = day + hour * HOUR
        sync_chunk(
            ["NYSE:IBM", "BINANCE:BTCUSDT"], "1h", lo, lo + HOUR,
            settings_for(run_id=f"h{hour:02d}", url=db_url), provider_options=tv(server),
        )  # fmt: skip
    with db.cursor() as cur:
        cur.execute(
            "SELECT a.symbol, a.window_start, a.window_end, b.ts FROM candleflow.load_audit a"
            " JOIN candleflow.bars b ON b.run_id = a.run_id AND b.instrument_id = a.instrument_id"
            " ORDER BY 1, 4"
        )
        rows = cur.fetchall()
    for symbol, window_start, window_end, ts in rows:  # loaded by the window it closed in
        assert window_start < ts + HOUR <= window_end, (symbol, ts, window_end)
    ibm = [(ts, end) for s, _, end, ts in rows if s == "NYSE:IBM"]
    assert ibm[0] == (
        dt.datetime(2024, 3, 5, 14, 30, tzinfo=dt.UTC),
        dt.datetime(2024, 3, 5, 16, tzinfo=dt.UTC),
    )
    whole = (day, day + 24 * HOUR)
    for symbol in ("NYSE:IBM", "BINANCE:BTCUSDT"):
        pd.testing.assert_frame_equal(stored_bars(db, symbol), closed(symbol, *whole))


def test_a_long_window_loads_in_slices_each_audited_and_resumable(server, db_url, db):
    lo, hi = START, START + dt.timedelta(days=2)
    run = settings_for(run_id="s", url=db_url, slice_bars=1000, clear_number=0)
    result = sync_chunk(["BINANCE:ETHUSDT"], "1m", lo, hi, run, provider_options=tv(server))
    (eth,) = result.symbols
    assert eth.slices == 3  # 2,880 minutes in slices of at most 1,000 bars
    pd.testing.assert_frame_equal(
        stored_bars(db, "BINANCE:ETHUSDT", "1m"), closed("BINANCE:ETHUSDT", lo, hi, "1m")
    )
    with db.cursor() as cur:
        cur.execute(
            "SELECT window_start, window_end, rows_inserted FROM candleflow.load_audit"
            " ORDER BY window_start"
        )
        windows = cur.fetchall()
    assert [w[2] for w in windows] == [1000, 1000, 880]
    assert windows[0][0] == lo and windows[-1][1] == hi
    assert all(a[1] == b[0] for a, b in itertools.pairwise(windows))
    again = sync_chunk(
        ["BINANCE:ETHUSDT"], "1m", lo, hi, run, provider_options=tv(server), resume=True
    )
    assert (again.symbols[0].outcome, again.symbols[0].skipped) == ("skipped", 3)


def test_windows_out_of_reach_are_audited_and_a_straddling_one_loads_what_is_reachable(db_url, db):
    now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    old = (now - 300 * HOUR, now - 200 * HOUR)
    straddle = (now - 150 * HOUR, now - 50 * HOUR)
    with ReplayServer(seed=3, max_bars=100) as srv:
        options = tv(srv, max_bars=100)
        result = sync_chunk(
            ["BINANCE:BTCUSDT"], "1h", *old, settings_for(run_id="old", url=db_url),
            provider_options=options,
        )  # fmt: skip
        assert result.symbols[0].outcome == "out_of_window"
        assert stored_bars(db, "BINANCE:BTCUSDT").empty
        result = sync_chunk(
            ["BINANCE:BTCUSDT"], "1h", *straddle, settings_for(run_id="straddle", url=db_url),
            provider_options=options,
        )  # fmt: skip
    (btc,) = result.symbols
    with db.cursor() as cur:
        cur.execute(
            "SELECT run_id, outcome, rows_fetched, rows_out_of_reach FROM candleflow.load_audit"
            " ORDER BY id"
        )
        audits = cur.fetchall()
        cur.execute("SELECT reachable_start FROM analytics.coverage")
        (reachable,) = cur.fetchone()
    assert audits[0] == ("old", "out_of_window", 0, 100)  # 100 hourly bars, all too old
    run, outcome, fetched, missing = audits[1]
    assert (run, outcome) == ("straddle", "success")
    assert fetched + missing == 100 and 0 < missing < 100
    expected = closed("BINANCE:BTCUSDT", *straddle)
    expected = expected[expected["ts"] >= pd.Timestamp(reachable)].reset_index(drop=True)
    assert len(expected) == fetched == btc.counts["rows_inserted"]
    pd.testing.assert_frame_equal(stored_bars(db, "BINANCE:BTCUSDT"), expected)


def test_a_resync_of_a_closed_month_counts_the_providers_corrections_as_updates(db_url, db):
    month = (dt.datetime(2024, 2, 1, tzinfo=dt.UTC), dt.datetime(2024, 3, 1, tzinfo=dt.UTC))
    with ReplayServer(seed=3, now=END.timestamp()) as srv:
        first = sync_chunk(
            ["BINANCE:BTCUSDT"], "1h", *month, settings_for(run_id="m1", url=db_url),
            provider_options=tv(srv),
        )  # fmt: skip
    with ReplayServer(seed=4, now=END.timestamp()) as srv:  # the provider revised every bar
        second = sync_chunk(
            ["BINANCE:BTCUSDT"], "1h", *month, settings_for(run_id="m2", url=db_url),
            provider_options=tv(srv),
        )  # fmt: skip
    n = 29 * 24  # February 2024 has 29 days
    assert (first.totals()["rows_inserted"], first.totals()["rows_updated"]) == (n, 0)
    assert (second.totals()["rows_inserted"], second.totals()["rows_updated"]) == (0, n)
    expected = closed("BINANCE:BTCUSDT", *month, seed=4)
    pd.testing.assert_frame_equal(stored_bars(db, "BINANCE:BTCUSDT"), expected)


class _Resolver(IDataProvider):
    """A provider whose answer for one symbol the instruments table refuses (a price scale
    of 0 breaks its CHECK): hostile or buggy metadata that passes every symbol rule."""

    name: ClassVar[str] = "resolver"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.BARS, Capability.RESOLVE})

    def _resolve(self, symbol: str) -> Instrument:
        return Instrument(
            symbol, price_scale=0 if symbol == "NASDAQ:ZERO" else 100, provider=self.name
        )

    def _fetch_bars(self, symbol, tf, start, end) -> pd.DataFrame:
        ts = pd.date_range(start, end, freq="1h", inclusive="left", tz="UTC").as_unit("us")
        return pd.DataFrame(
            {"ts": ts, "open": 10.0, "high": 11.0, "low": 9.0, "close": 10.5, "volume": 1.0}
        )


def test_an_instrument_the_table_refuses_fails_alone(db_url, db):
    # new instruments used to be written in one transaction: one refusal failed them all,
    # with a traceback, and none of the chunk's symbols loaded
    symbols = ["NASDAQ:AAPL", "NASDAQ:ZERO", "NASDAQ:MSFT"]
    result = sync_chunk(
        symbols, "1h", START, START + 6 * HOUR, settings_for(run_id="r", url=db_url),
        provider=_Resolver(),
    )  # fmt: skip
    outcomes = {s.symbol: s.outcome for s in result.symbols}
    assert outcomes == {"NASDAQ:AAPL": "success", "NASDAQ:ZERO": "failed", "NASDAQ:MSFT": "success"}
    error = result.failures["NASDAQ:ZERO"]
    assert isinstance(error, BadInputError)
    assert "NASDAQ:ZERO" in str(error) and "instruments_price_scale_check" in str(error)
    for symbol in ("NASDAQ:AAPL", "NASDAQ:MSFT"):
        assert len(stored_bars(db, symbol)) == 6
    with db.cursor() as cur:
        cur.execute("SELECT symbol FROM candleflow.instruments ORDER BY 1")
        assert [r[0] for r in cur.fetchall()] == ["NASDAQ:AAPL", "NASDAQ:MSFT"]
        cur.execute(
            "SELECT outcome, error FROM candleflow.load_audit WHERE symbol = %s", ("NASDAQ:ZERO",)
        )
        ((outcome, message),) = cur.fetchall()
    assert outcome == "failed" and "instruments_price_scale_check" in message
