"""Compressed closed months in the live warehouse: compress, read, correct, size.

The oracle is what the warehouse answered before compressing: ``query.bars``,
``analytics.bars`` and ``analytics.daily_bars`` must answer the same, value for value,
once the months are segments, and a load into a compressed month must rewrite its segment.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from candleflow import query
from candleflow.db import bars as db_bars
from candleflow.db import compaction
from candleflow.testing import synthetic
from tests.support.bars import crypto_instrument

UTC = dt.UTC
SYMBOL = "BINANCE:BTCUSDT"
CANDLEFLOW = str(Path(sys.executable).with_name("candleflow"))


def _load(db, iid: int, frame: pd.DataFrame, run_id: str) -> db_bars.LoadCounts:
    with db:
        return db_bars.upsert_bars(db, iid, "1m", frame, run_id=run_id)


def _frame(db, text: str, params=()) -> pd.DataFrame:
    with db.cursor() as cur:
        cur.execute(text, params)
        names = [c.name for c in cur.description]
        frame = pd.DataFrame(cur.fetchall(), columns=names)
    db.rollback()
    return frame


def _count(db, table: str) -> int:
    return int(_frame(db, f"SELECT count(*) AS n FROM {table}")["n"].iloc[0])  # noqa: S608


def _views(db) -> dict[str, pd.DataFrame]:
    return {
        "bars": _frame(db, "SELECT * FROM analytics.bars ORDER BY symbol, timeframe, ts"),
        "daily": _frame(db, "SELECT * FROM analytics.daily_bars ORDER BY symbol, session_date"),
        "coverage": _frame(
            db, "SELECT symbol, first_ts, last_ts, bar_count FROM analytics.coverage"
        ),
    }


@pytest.fixture
def warehouse(db, db_url):
    """Two months and a bit of 1m bars (Feb, Mar 2024 closed; all older than a day)."""
    iid = crypto_instrument(db)
    bars = synthetic.bars(SYMBOL, "1m", "2024-02-27", "2024-03-02 12:00")
    _load(db, iid, bars, "backfill")
    return iid, bars


def test_a_compressed_month_reads_back_value_for_value(db, db_url, warehouse, reader):
    _iid, bars = warehouse
    window = ("2024-02-28 06:00", "2024-03-02")
    before = query.bars(SYMBOL, "1m", *window, url=db_url)
    hourly = query.bars(SYMBOL, "1h", *window, url=db_url)  # resampled from 1m
    views = _views(db)
    timeframes = query.stored_timeframes(SYMBOL, url=db_url)  # what the chart offers

    done = compaction.compress_closed(db_url, "1d")
    assert (done["segments"], done["bars"]) == (2, len(bars))
    assert _count(db, "candleflow.bars") == 0
    assert _count(db, "candleflow.bar_segments") == 2

    pd.testing.assert_frame_equal(query.bars(SYMBOL, "1m", *window, url=db_url), before)
    pd.testing.assert_frame_equal(query.bars(SYMBOL, "1h", *window, url=db_url), hourly)
    pd.testing.assert_frame_equal(query.stored_timeframes(SYMBOL, url=db_url), timeframes)
    for name, frame in _views(db).items():
        pd.testing.assert_frame_equal(frame, views[name], obj=name)
    # the BI role reads the compressed months through the views it is granted
    with reader.cursor() as cur:
        cur.execute("SELECT count(*), sum(close) FROM analytics.bars")
        count, total = cur.fetchone()
    assert count == len(views["bars"])
    assert total == pytest.approx(views["bars"]["close"].sum(), rel=1e-12)
    # a re-run finds nothing left to compress
    assert compaction.compress_closed(db_url, "1d")["segments"] == 0


def test_only_months_older_than_the_age_are_compressed(db, db_url, warehouse):
    now = dt.datetime(2024, 4, 15, tzinfo=UTC)
    assert compaction.cutoff("2mo", now) == dt.datetime(2024, 2, 15, tzinfo=UTC)
    assert compaction.cutoff("6w", now) == dt.datetime(2024, 3, 4, tzinfo=UTC)
    with pytest.raises(Exception, match="bad age"):
        compaction.cutoff("two months")


def test_a_correction_into_a_compressed_month_rewrites_it_and_a_rerun_changes_nothing(
    db, db_url, warehouse
):
    iid, bars = warehouse
    compaction.compress_closed(db_url, "1d")
    feb = _frame(db, "SELECT segment_start, compressed_at FROM candleflow.bar_segments ORDER BY 1")
    offered = bars.iloc[[10, 11, -5]].copy()  # two in February, one in March
    offered.loc[offered.index[0], "close"] = offered["close"].iloc[0] + 0.01
    offered.loc[offered.index[0], "high"] = max(offered["high"].iloc[0], offered["close"].iloc[0])
    late = bars.iloc[[-1]].assign(ts=pd.Timestamp("2024-04-02 00:00", tz="UTC"))
    offered = pd.concat([offered, late], ignore_index=True)  # and a bar of an open month

    counts = _load(db, iid, offered, "fix")
    assert counts == (1, 1, 2)
    assert _count(db, "candleflow.bars") == 1  # only the April bar is a plain row
    read = query.bars(SYMBOL, "1m", "2024-02-27", "2024-04-03", url=db_url)
    fixed = read.set_index("ts").loc[offered["ts"].iloc[0]]
    assert fixed["close"] == offered["close"].iloc[0] and fixed["high"] == offered["high"].iloc[0]
    assert len(read) == len(bars) + 1
    after = _frame(
        db, "SELECT segment_start, compressed_at FROM candleflow.bar_segments ORDER BY 1"
    )
    rewritten = after.merge(feb, on="segment_start", suffixes=("", "_before"))
    assert (rewritten["compressed_at"] != rewritten["compressed_at_before"]).tolist() == [
        True,  # February: the corrected bar
        False,  # March: its bar was equal, nothing written
    ]

    again = _load(db, iid, offered, "rerun")
    assert again == (0, 0, len(offered))
    untouched = _frame(
        db, "SELECT segment_start, compressed_at FROM candleflow.bar_segments ORDER BY 1"
    )
    pd.testing.assert_frame_equal(untouched, after)
    fixed_rows = _frame(
        db,
        "SELECT run_id FROM candleflow.bar_rows WHERE instrument_id = %s AND ts = %s",
        (iid, offered["ts"].iloc[0].to_pydatetime()),
    )
    assert fixed_rows["run_id"].tolist() == ["fix"]


def test_a_symbol_filter_reads_only_that_symbols_segments(db, db_url, warehouse):
    other = crypto_instrument(db, "BINANCE:ETHUSDT")
    _load(db, other, synthetic.bars("BINANCE:ETHUSDT", "1m", "2024-02-27", "2024-03-01"), "e")
    compaction.compress_closed(db_url, "1d")
    with db.cursor() as cur:  # a few segments: a seq scan is cheaper, but is it avoidable?
        cur.execute("SET enable_seqscan = off")
    for view, where in [
        ("bars", "timeframe = '1m' AND ts >= '2024-02-28' AND ts < '2024-02-29'"),
        ("daily_bars", "session_date = '2024-02-28'"),
        ("freshness", "true"),
    ]:
        explain = f"EXPLAIN SELECT * FROM analytics.{view} WHERE symbol = %s AND {where}"  # noqa: S608 - fixed texts
        lines = _frame(db, explain, (SYMBOL,)).iloc[:, 0].tolist()
        scans = [n for n, line in enumerate(lines) if "on bar_segments" in line]
        plan = "\n".join(lines)
        assert scans, plan
        for n in scans:  # the rows, the provider-shadow and existence checks alike
            assert re.search(r"Index (Only )?Scan using bar_segments_pkey", lines[n]), plan
            assert re.search(r"Index Cond: \(+instrument_id = ", lines[n + 1]), f"{view}:\n{plan}"


def test_db_compress_then_db_size_reports_compressed_bytes_per_bar(db, db_url, warehouse):
    env = {**os.environ, "CANDLEFLOW_DATABASE_URL": db_url}
    opened = subprocess.run(
        [CANDLEFLOW, "db", "size"], capture_output=True, text=True, env=env, timeout=120
    )
    assert opened.returncode == 0, opened.stderr
    assert "compressed" not in opened.stdout and "open" in opened.stdout

    done = subprocess.run(
        [CANDLEFLOW, "db", "compress", "--older-than", "1d"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "compressed 2 segments" in done.stdout

    sized = subprocess.run(
        [CANDLEFLOW, "db", "size"], capture_output=True, text=True, env=env, timeout=120
    )
    assert sized.returncode == 0, sized.stderr
    rows = [line.split() for line in sized.stdout.splitlines()[1:]]
    assert [r[:2] for r in rows] == [["compressed", "1m"]]
    bars, per_bar = int(rows[0][2].replace(",", "")), float(rows[0][4])
    assert bars == len(warehouse[1])
    assert 0 < per_bar < 40  # plain rows cost ~160-230 B a bar
