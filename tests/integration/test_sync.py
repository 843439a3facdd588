"""The sync service end to end: the real TradingView client against the replay server, Great
Expectations validation, and the bulk upsert into a real PostgreSQL.

The oracle is ``candleflow.testing.synthetic.bars``: exactly what the server serves.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from candleflow.errors import SymbolNotFound, ValidationFailed
from candleflow.providers.files import FileProvider, FileSource
from candleflow.services.sync import sync
from candleflow.testing import ReplayServer, synthetic
from tests.support.bars import stored_bars
from tests.support.shared_data import shared_data

START = dt.datetime(2024, 3, 4, tzinfo=dt.UTC)
END = dt.datetime(2024, 3, 8, tzinfo=dt.UTC)
SYMBOLS = ("NASDAQ:AAPL", "BINANCE:BTCUSDT", "SP:SPX")

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def server():
    with ReplayServer(seed=3, now=END.timestamp()) as srv:
        yield srv


def tv(srv, scenario: str | None = None, **extra) -> dict:
    url = srv.url + (f"?scenario={scenario}" if scenario else "")
    return {"url": url, "timeout": 10, "backoff": 0.05, **extra}


def oracle(symbol: str, timeframe: str = "1h") -> pd.DataFrame:
    return synthetic.bars(symbol, timeframe, START, END, seed=3).reset_index(drop=True)


def audits(db) -> list[tuple]:
    with db.cursor() as cur:
        cur.execute(
            "SELECT symbol, outcome, rows_fetched, rows_inserted, rows_updated,"
            " rows_unchanged, rows_rejected FROM candleflow.load_audit ORDER BY id"
        )
        return cur.fetchall()


def test_three_instruments_load_value_for_value_and_a_rerun_changes_nothing(server, db_url, db):
    for symbol in SYMBOLS:
        sync(symbol, "1h", START, END, provider_options=tv(server), run_id="r1", url=db_url)
    for symbol in SYMBOLS:
        expected = oracle(symbol)
        assert len(expected) > 20
        pd.testing.assert_frame_equal(stored_bars(db, symbol), expected, check_exact=True)
    first = audits(db)
    assert [(s, o, f == i) for s, o, f, i, *_ in first] == [(s, "success", True) for s in SYMBOLS]

    for symbol in SYMBOLS:
        record = sync(
            symbol, "1h", START, END, provider_options=tv(server), run_id="r2", url=db_url
        )
        assert (record["rows_inserted"], record["rows_updated"]) == (0, 0)
        assert record["rows_unchanged"] == len(oracle(symbol))
    with db.cursor() as cur:
        cur.execute("SELECT DISTINCT run_id FROM candleflow.bars")
        assert cur.fetchall() == [("r1",)]
        cur.execute("SELECT count(*) FROM candleflow.sync_state WHERE last_bar_ts < %s", (END,))
        assert cur.fetchone()[0] == 3


def test_many_small_windows_equal_one_large_window(server, db_url, db):
    edges = pd.date_range(START, END, freq="13h")
    for lo, hi in zip([*edges], [*edges[1:], END], strict=True):
        if lo < hi:
            sync("NYSE:IBM", "1h", lo, hi, provider_options=tv(server), url=db_url)
    pd.testing.assert_frame_equal(stored_bars(db, "NYSE:IBM"), oracle("NYSE:IBM"), check_exact=True)


def test_bad_bars_are_rejected_with_their_rules_and_the_rest_loads(db_url, db):
    with ReplayServer(seed=3, now=END.timestamp(), bar_cap=28) as srv:
        record = sync(
            "NASDAQ:MSFT",
            "1h",
            START,
            END,
            provider_options=tv(srv, "bad_bars"),
            url=db_url,
            reject_threshold=0.5,
            run_id="bad",
        )
    with db.cursor() as cur:
        cur.execute(
            "SELECT ts, rules FROM candleflow.rejected_bars WHERE run_id = 'bad' ORDER BY id"
        )
        rejected = cur.fetchall()
    rules = [set(r) for _, r in rejected]
    assert any("high_ge_low" in r for r in rules)
    assert any(r == {"volume_non_negative"} for r in rules)
    assert sum("unique_ts" in r for r in rules) == 2  # both rows of the conflicting pair
    assert any(r == {"on_grid"} for r in rules)
    assert any(r == {"not_null"} for r in rules)
    assert record["rows_rejected"] == len(rejected) == 6
    expected = oracle("NASDAQ:MSFT")
    loaded = stored_bars(db, "NASDAQ:MSFT")
    assert len(loaded) == len(expected) - 5  # five corrupted positions; the twin was extra
    assert loaded.merge(expected, how="left", indicator=True)["_merge"].eq("both").all()


def test_above_the_threshold_the_window_fails_and_nothing_loads(db_url, db):
    with (
        ReplayServer(seed=3, now=END.timestamp(), bar_cap=28) as srv,
        pytest.raises(ValidationFailed, match="nothing loaded"),
    ):
        sync("NASDAQ:MSFT", "1h", START, END, provider_options=tv(srv, "bad_bars"), url=db_url)
    assert stored_bars(db, "NASDAQ:MSFT").empty
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM candleflow.rejected_bars")
        assert cur.fetchone()[0] == 6
    assert audits(db)[-1][1] == "rejected"


def test_disconnect_mid_page_completes_without_gap_or_duplicate(server, db_url, db):
    sync(
        "AMEX:SPY", "1h", START, END, provider_options=tv(server, "disconnect_mid_page"), url=db_url
    )
    pd.testing.assert_frame_equal(stored_bars(db, "AMEX:SPY"), oracle("AMEX:SPY"), check_exact=True)


def test_unknown_symbol_fails_fast_and_is_audited(server, db_url, db):
    with pytest.raises(SymbolNotFound):
        sync("NASDAQ:BADSYM", "1h", START, END, provider_options=tv(server), url=db_url)
    assert audits(db) == [("NASDAQ:BADSYM", "failed", 0, 0, 0, 0, 0)]


def test_real_daily_files_load_except_the_two_bad_spy_bars(db_url, db):
    path = shared_data("mplfinance/yahoofinance-SPY-20080101-20180101.csv")
    files = {"AMEX:SPY": FileSource(path, "yahoo", timeframe="1d")}
    record = sync(
        "AMEX:SPY", "1d", "2007-01-01", "2019-01-01", provider=FileProvider(files=files), url=db_url
    )
    assert record["rows_fetched"] == 2519
    assert record["rows_rejected"] == 2
    assert record["rows_inserted"] == 2517
    with db.cursor() as cur:
        cur.execute("SELECT ts::date, rules FROM candleflow.rejected_bars ORDER BY ts")
        rows = cur.fetchall()
    assert rows == [
        (dt.date(2015, 3, 5), ["low_le_min_open_close"]),
        (dt.date(2015, 3, 30), ["low_le_min_open_close"]),
    ]


def test_a_bar_file_with_unreadable_rows_loads_the_rest_and_rejects_each_once(db_url, db, tmp_path):
    # 30 hourly bars; an empty date, a date that is none and a price of abc among them,
    # synced in 10-bar slices: each bad row is rejected once, in the slice of the bar before it
    start = dt.datetime(2024, 3, 4, tzinfo=dt.UTC)
    lines = [
        f"{(start + dt.timedelta(hours=h)):%Y-%m-%d %H:%M:%S},10,11,9,10.5,5\n" for h in range(30)
    ]
    lines.insert(4, ",10,11,9,10.1,5\n")  # after the 03:00 bar: the first slice
    lines.insert(15, "2024-13-45 00:00:00,10,11,9,10.2,5\n")  # after 13:00: the second
    lines[25] = lines[25].replace(",11,", ",abc,")  # the 23:00 bar: the third
    path = tmp_path / "bars.csv"
    path.write_text("timestamp,open,high,low,close,volume\n" + "".join(lines))
    provider = FileProvider(files={"BINANCE:FILEUSDT": FileSource(path, "nautilus_csv")})
    window = (start, start + dt.timedelta(hours=30))
    options = {"provider": provider, "url": db_url, "slice_bars": 10, "reject_threshold": 0.5}
    record = sync("BINANCE:FILEUSDT", "1h", *window, **options)
    assert (record["rows_fetched"], record["rows_inserted"], record["rows_rejected"]) == (32, 29, 3)
    with db.cursor() as cur:
        cur.execute(
            "SELECT ts, rules, raw->>'close', raw->>'high' FROM candleflow.rejected_bars"
            " ORDER BY raw->>'close'"
        )
        rejected = cur.fetchall()
        cur.execute("SELECT rows_fetched, rows_rejected FROM candleflow.load_audit ORDER BY id")
        slices = cur.fetchall()
    assert rejected == [
        (None, ["not_null"], "10.1", "11.0"),  # the empty date, its values kept
        (None, ["not_null"], "10.2", "11.0"),  # the date that is none
        (start + dt.timedelta(hours=23), ["not_null"], "10.5", None),  # the high of abc
    ]
    assert slices == [(11, 1), (11, 1), (10, 1)]  # each in one slice: the bar before it
    again = sync("BINANCE:FILEUSDT", "1h", *window, **options)
    assert (again["rows_inserted"], again["rows_unchanged"]) == (0, 29)
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM candleflow.rejected_bars")
        assert cur.fetchone() == (3,)
