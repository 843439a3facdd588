"""Tick import and validation: every vendor layout in shared data, the canonical CSV,
idempotent re-imports and the rejected_ticks rules (including ``late``)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from psycopg2 import sql

from candleflow.managers import BarManager
from candleflow.services.ticks.imports import import_ticks
from candleflow.validation.ticks import TickRules
from tests.support.shared_data import shared_data

NOW = dt.datetime(2024, 3, 2, tzinfo=dt.UTC)
CANONICAL = """ts,price,size,bid,ask,day_volume
2024-03-01T10:00:00.100+00:00,100.5,2,100.4,100.6,
2024-03-01T10:00:00.100+00:00,100.6,1,100.5,100.7,
2024-03-01T11:00:00.250+01:00,100.7,3,,,
2024-03-01T10:01:00+00:00,-1,1,,,
2024-03-01T10:02:00+00:00,101,-2,,,
2024-03-01T10:03:00+00:00,,,,,
2024-03-05T10:03:00+00:00,101,1,,,
"""


def _count(db, table: str, where: str = "TRUE", params: tuple = ()) -> int:
    with db.cursor() as cur:
        query = sql.SQL("SELECT count(*) FROM {} WHERE {}")
        cur.execute(query.format(sql.Identifier("candleflow", table), sql.SQL(where)), params)
        return cur.fetchone()[0]


def test_canonical_csv_needs_no_options_and_reimport_inserts_nothing(db, tmp_path):
    path = tmp_path / "ticks.csv"
    path.write_text(CANONICAL)
    first = import_ticks(path, "TEST:CANON", run_id="r1", now=NOW)
    assert (first.received, first.inserted, first.rejected) == (7, 3, 4)
    with db.cursor() as cur:
        cur.execute("SELECT ts, seq, price FROM candleflow.ticks ORDER BY ts, seq")
        rows = cur.fetchall()
        cur.execute("SELECT rules FROM candleflow.rejected_ticks ORDER BY ts NULLS LAST")
        rules = [r[0] for r in cur.fetchall()]
    assert [(r[1], r[2]) for r in rows] == [(0, 100.5), (1, 100.6), (0, 100.7)]
    assert rules == [["non_positive_price"], ["negative_size"], ["nan"], ["future"]]
    again = import_ticks(path, "TEST:CANON", run_id="r2", now=NOW)
    assert (again.inserted, again.duplicates) == (0, 3)
    assert _count(db, "instruments", "symbol = %s", ("TEST:CANON",)) == 1


@pytest.mark.parametrize(
    ("relpath", "mapping", "rows", "priced"),
    [
        ("freqtrade/XRP_ETH-trades.json.gz", "freqtrade_trades_json", 12477, True),
        ("nautilus/btcusdt-trades.parquet", "nautilus_parquet_trades", 2001, True),
        ("nautilus/btcusdt-quotes.parquet", "nautilus_parquet_quotes", 451, False),
        ("lean/tick/ibm/20131007_trade.zip", "lean_tick_trade", 24293, True),
        ("lean/tick/ibm/20131007_quote.zip", "lean_tick_quote", 109067, False),
        ("nautilus/usdjpy-ticks.csv", "truefx", 1000, False),
        ("nautilus/quote_tick_data.csv", "histdata", 9500, False),
        ("freqtrade/BCHEUR.csv", "kraken_csv", 148, True),
    ],
)
def test_every_vendor_layout_imports_whole_and_idempotently(db, relpath, mapping, rows, priced):
    path = shared_data(relpath)
    first = import_ticks(path, "TEST:FILE", mapping=mapping, run_id="r1")
    assert first.received == rows
    assert first.inserted + first.rejected == rows
    assert _count(db, "ticks") == first.inserted
    assert (_count(db, "ticks", "price IS NOT NULL") > 0) == priced
    again = import_ticks(path, "TEST:FILE", mapping=mapping, run_id="r2")
    assert again.inserted == 0 and again.duplicates == first.inserted


def test_quote_only_files_make_no_bars(db):
    import_ticks(shared_data("nautilus/usdjpy-ticks.csv"), "TEST:FX", mapping="truefx", run_id="r")
    result = BarManager(["1m"]).rollup(db, run_id="r")
    assert result.built["1m"] == 0


def test_an_import_is_never_late_its_old_ticks_revise_their_bars(db, tmp_path):
    base = pd.Timestamp("2024-03-01 00:00", tz="UTC")
    day = pd.DataFrame({"ts": base + pd.to_timedelta(range(0, 48 * 3600, 600), unit="s")})
    path = tmp_path / "day.csv"
    day.assign(ts=day["ts"].map(pd.Timestamp.isoformat), price=10.0, size=1.0).to_csv(
        path, index=False
    )
    import_ticks(path, "TEST:LATE", run_id="r1")
    BarManager(["1m", "1d"]).rollup(db, run_id="r1")  # rolled up to 2024-03-02 23:51
    old = tmp_path / "old.csv"
    old.write_text(
        "ts,price,size\n"
        "2024-03-01T00:00:30+00:00,11,1\n"  # 47 hours behind what was rolled up
        "2023-01-05T12:00:00+00:00,9,2\n"  # more than a year behind
    )
    result = import_ticks(old, "TEST:LATE", run_id="r2", rules=TickRules())
    assert (result.inserted, result.rejected) == (2, 0)
    BarManager(["1m", "1d"]).rollup(db, run_id="r2")
    with db.cursor() as cur:
        cur.execute(
            "SELECT ts, high, volume FROM candleflow.bars WHERE timeframe = '1m'"
            " AND ts IN ('2024-03-01 00:00+00', '2023-01-05 12:00+00') ORDER BY ts"
        )
        assert [(r[1], r[2]) for r in cur.fetchall()] == [(9.0, 2.0), (11.0, 2.0)]
        cur.execute("SELECT ts::date, high FROM candleflow.bars WHERE timeframe = '1d' ORDER BY ts")
        days = cur.fetchall()
    assert [d[1] for d in days] == [9.0, 11.0, 10.0]
    # the original file again: every old tick is a duplicate, none is rejected
    again = import_ticks(path, "TEST:LATE", run_id="r3")
    assert (again.inserted, again.rejected, again.duplicates) == (0, 0, len(day))


def test_late_applies_to_the_live_stream_only_and_can_be_turned_off():
    from candleflow.validation.ticks import rule_failures

    now = dt.datetime(2024, 3, 10, tzinfo=dt.UTC)
    ts = pd.to_datetime(["2024-03-01", "2024-03-09", "2024-03-10"], utc=True).as_unit("us")
    frame = pd.DataFrame({"ts": ts, "price": 1.0, "size": 1.0})
    live = rule_failures(frame, now=now, rules=TickRules(), live=True)
    assert list(live) == [["late"], [], []]  # 9 days behind: past the default 7
    assert list(rule_failures(frame, now=now, rules=TickRules(), live=False)) == [[], [], []]
    short = TickRules(late_after=dt.timedelta(hours=12))
    assert list(rule_failures(frame, now=now, rules=short, live=True)) == [["late"], ["late"], []]
    off = TickRules(late_after=None)
    assert list(rule_failures(frame, now=now, rules=off, live=True)) == [[], [], []]
    with pytest.raises(ValueError, match="late_after"):
        TickRules(late_after=dt.timedelta(0))
