"""What bad tick input becomes: a rejected row with its rule and raw text, never a crash, and
the rest of the file stored. And a file read in chunks keys its ticks as if read whole.

Each file is one a careless export or a unit mix-up produces: an empty timestamp, epoch
milliseconds or microseconds where seconds are expected, seconds read as milliseconds (1970),
zero dates, a price of ``abc``, negative and crossed quotes.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from candleflow.managers import BarManager
from candleflow.services.ticks.imports import import_ticks, read_tick_file
from candleflow.validation.ticks import TickRules

NOW = dt.datetime(2024, 3, 5, tzinfo=dt.UTC)
T0 = 1_709_546_400  # 2024-03-04T10:00:00Z


def _rejects(db) -> dict[str, list[str]]:
    """raw ts (as stored in raw) -> rules."""
    with db.cursor() as cur:
        cur.execute("SELECT raw->>'ts', rules, raw FROM candleflow.rejected_ticks ORDER BY id")
        return {(ts or "<none>"): rules for ts, rules, _ in cur.fetchall()}


def _raw(db, key: str, column: str):
    with db.cursor() as cur:
        cur.execute("SELECT raw->>%s FROM candleflow.rejected_ticks WHERE raw->>'ts' = %s",
                    (column, key))  # fmt: skip
        return cur.fetchone()[0]


def _stored(db) -> list[tuple]:
    with db.cursor() as cur:
        cur.execute("SELECT ts, seq, price FROM candleflow.ticks ORDER BY ts, seq")
        return cur.fetchall()


def test_bad_canonical_rows_are_rejected_with_their_text_and_the_rest_loads(db, tmp_path):
    path = tmp_path / "ticks.csv"
    path.write_text(
        "ts,price,size\n"
        "2024-03-04T10:00:00+00:00,100,1\n"
        ",101,1\n"  # no timestamp
        "yesterday,102,1\n"  # not a timestamp
        "2024-03-04T10:00:01+00:00,abc,1\n"  # not a number
        "2024-03-04T10:00:02+00:00,103,1\n"
    )
    result = import_ticks(path, "TEST:BAD", run_id="r", now=NOW)
    assert (result.received, result.inserted, result.rejected) == (5, 2, 3)
    assert [r[2] for r in _stored(db)] == [100.0, 103.0]
    rejects = _rejects(db)
    assert rejects["<none>"] == ["missing_ts"]
    assert rejects["yesterday"] == ["bad_ts"]
    assert "not_a_number" in rejects["2024-03-04T10:00:01+00:00"]
    assert _raw(db, "2024-03-04T10:00:01+00:00", "price") == "abc"


def test_epoch_unit_mistakes_are_rejected_not_crashed_on_or_stored(db, tmp_path):
    path = tmp_path / "kraken.csv"  # Kraken's unix-seconds layout, with other units mixed in
    path.write_text(
        f"{T0},100,1\n"
        f"{T0 * 1000},101,1\n"  # milliseconds: the year 56143
        f"{T0 * 1_000_000},102,1\n"  # microseconds: beyond any datetime
        f",103,1\n"  # empty
        f"{T0 + 1},104,1\n"
    )
    result = import_ticks(path, "TEST:UNITS", mapping="kraken_csv", run_id="r", now=NOW)
    assert (result.inserted, result.rejected) == (2, 3)
    rejects = _rejects(db)
    assert "bad_ts" in rejects[str(T0 * 1000)] and "bad_ts" in rejects[str(T0 * 1_000_000)]
    assert rejects["<none>"] == ["missing_ts"]


def test_timestamps_before_the_instruments_plausible_time_are_rejected(db, tmp_path):
    path = tmp_path / "ms.csv"  # seconds read as milliseconds: January 1970
    path.write_text(f"timestamp,id,price,amount\n{T0},1,100,1\n{T0 + 5},2,101,1\n")
    result = import_ticks(path, "BINANCE:BTCUSDT", mapping="freqtrade_trades_csv", run_id="r")
    assert (result.inserted, result.rejected) == (0, 2)
    assert {tuple(r) for r in _rejects(db).values()} == {("implausible_ts",)}
    old = tmp_path / "old.csv"  # zero dates and pandas' minimum, on a venue of any age
    old.write_text(
        "ts,price,size\n0001-01-01T00:00:00+00:00,1,1\n1677-09-21T00:12:44+00:00,1,1\n"
        "1979-12-31T23:59:59+00:00,1,1\n1980-01-02T00:00:00+00:00,1,1\n"
    )
    # a venue without a trading calendar (FX): its ticks roll up at any hour, so the 1980 tick
    # is the one bar (an exchange's calendar does not reach back to 1980)
    result = import_ticks(old, "FX:EURUSD", run_id="r2", now=NOW)
    assert (result.inserted, result.rejected) == (1, 3)
    assert BarManager(["1m"]).rollup(db, run_id="r2").built["1m"] == 1  # 1980 only
    anything = TickRules(earliest=dt.datetime(1, 1, 1, tzinfo=dt.UTC))  # the floor is a rule
    assert import_ticks(old, "FX:EURUSD", run_id="r3", now=NOW, rules=anything).inserted == 3


def test_quotes_must_be_positive_and_not_crossed_a_locked_quote_is_fine(db, tmp_path):
    path = tmp_path / "quotes.csv"
    path.write_text(
        "timestamp,bid,ask\n"
        "2024-03-04T10:00:00+00:00,150.10,150.12\n"
        "2024-03-04T10:00:01+00:00,-150.10,150.12\n"  # a negative bid
        "2024-03-04T10:00:02+00:00,150.10,0\n"  # no ask is 0
        "2024-03-04T10:00:03+00:00,150.13,150.12\n"  # crossed: bid above ask
        "2024-03-04T10:00:04+00:00,150.12,150.12\n"  # locked: bid = ask, legal
    )
    result = import_ticks(path, "FX:USDJPY", mapping="truefx", run_id="r", now=NOW)
    assert (result.inserted, result.rejected) == (2, 3)
    rules = sorted(map(tuple, _rejects(db).values()))
    assert rules == [("crossed_quote",), ("non_positive_quote",), ("non_positive_quote",)]


def test_a_file_read_in_chunks_keys_its_ticks_as_if_read_whole(db, tmp_path):
    # 30 ticks in groups sharing a timestamp; chunks of ~4 rows cut through the groups
    stamps = [T0 + i // 3 for i in range(30)]
    rows = "".join(
        f"{pd.Timestamp(t, unit='s', tz='UTC').isoformat()},{100 + i},1\n"
        for i, t in enumerate(stamps)
    )
    path = tmp_path / "groups.csv"
    path.write_text("ts,price,size\n" + rows)
    whole = read_tick_file(path)
    chunked = import_ticks(path, "TEST:CHUNKS", run_id="r1", now=NOW, chunk_rows=4)
    assert chunked.inserted == 30
    stored = pd.DataFrame(_stored(db), columns=["ts", "seq", "price"])
    expected = whole[["ts", "seq", "price"]]
    assert list(stored["seq"]) == list(expected["seq"]) == [0, 1, 2] * 10
    assert list(stored["price"]) == list(expected["price"])
    again = import_ticks(path, "TEST:CHUNKS", run_id="r2", now=NOW)  # whole-file chunk size
    assert (again.inserted, again.duplicates) == (0, 30)


def test_a_file_out_of_time_order_is_stored_whole_with_the_same_keys(db, tmp_path):
    rows = [(T0 + 5, 1), (T0 + 5, 2), (T0 + 9, 3), (T0 + 1, 4), (T0 + 5, 5), (T0 + 9, 6)]
    text = "".join(f"{pd.Timestamp(t, unit='s', tz='UTC').isoformat()},{p},1\n" for t, p in rows)
    path = tmp_path / "shuffled.csv"
    path.write_text("ts,price,size\n" + text)
    result = import_ticks(path, "TEST:SHUFFLED", run_id="r1", now=NOW, chunk_rows=2)
    assert (result.received, result.inserted, result.duplicates) == (6, 6, 0)
    by_price = {p: s for _, s, p in _stored(db)}
    assert by_price == {1: 0, 2: 1, 5: 2, 3: 0, 6: 1, 4: 0}  # file order within each ts
    again = import_ticks(path, "TEST:SHUFFLED", run_id="r2", now=NOW, chunk_rows=2)
    assert (again.inserted, again.duplicates) == (0, 6)
