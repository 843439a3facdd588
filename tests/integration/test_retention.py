"""Retention on a partitioned layout: only expired partitions go, exported first when asked.

The layout is built here the way the partitioned warehouse lays out bars (a list partition
per timeframe, range partitions by month or year below it, a DEFAULT) and ticks (by day),
on copies of the real tables, so the catalogue reading and the DETACH/DROP are real.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from candleflow.db import retention
from candleflow.errors import ConfigError
from candleflow.testing import synthetic

UTC = dt.UTC
NOW = dt.datetime(2024, 4, 15, 12, tzinfo=UTC)
LAYOUT = """
CREATE TABLE candleflow.bars_p (LIKE candleflow.bars INCLUDING DEFAULTS)
    PARTITION BY LIST (timeframe);
CREATE TABLE candleflow.bars_p_1m PARTITION OF candleflow.bars_p
    FOR VALUES IN ('1m') PARTITION BY RANGE (ts);
CREATE TABLE candleflow.bars_p_1m_2024_01 PARTITION OF candleflow.bars_p_1m
    FOR VALUES FROM ('2024-01-01 00:00+00') TO ('2024-02-01 00:00+00');
CREATE TABLE candleflow.bars_p_1m_2024_02 PARTITION OF candleflow.bars_p_1m
    FOR VALUES FROM ('2024-02-01 00:00+00') TO ('2024-03-01 00:00+00');
CREATE TABLE candleflow.bars_p_1m_default PARTITION OF candleflow.bars_p_1m DEFAULT;
CREATE TABLE candleflow.bars_p_1h PARTITION OF candleflow.bars_p
    FOR VALUES IN ('1h') PARTITION BY RANGE (ts);
CREATE TABLE candleflow.bars_p_1h_2023 PARTITION OF candleflow.bars_p_1h
    FOR VALUES FROM ('2023-01-01 00:00+00') TO ('2024-01-01 00:00+00');
CREATE TABLE candleflow.ticks_p (LIKE candleflow.ticks INCLUDING DEFAULTS) PARTITION BY RANGE (ts);
CREATE TABLE candleflow.ticks_p_2024_04_13 PARTITION OF candleflow.ticks_p
    FOR VALUES FROM ('2024-04-13 00:00+00') TO ('2024-04-14 00:00+00');
CREATE TABLE candleflow.ticks_p_2024_04_14 PARTITION OF candleflow.ticks_p
    FOR VALUES FROM ('2024-04-14 00:00+00') TO ('2024-04-15 00:00+00');
"""


def test_rules_parse_and_refuse_bad_settings():
    rules = retention.parse_rules("ticks=30d, 1m=2y:export,5m=18mo")
    assert rules == {
        "ticks": retention.Rule("ticks", "30d"),
        "1m": retention.Rule("1m", "2y", "export"),
        "5m": retention.Rule("5m", "18mo"),
    }
    assert retention.parse_rules("") == {}
    for bad, word in (
        ("7m=1y", "target"),
        ("1m=2 years", "age"),
        ("1m=0d", "age"),
        ("1m=1y:archive", "action"),
        ("1m", "target"),
    ):
        with pytest.raises(ConfigError, match=word):
            retention.parse_rules(bad)


def test_cutoffs_step_calendar_months_and_days():
    assert retention.Rule("1m", "2mo").cutoff(NOW) == dt.datetime(2024, 2, 15, 12, tzinfo=UTC)
    assert retention.Rule("1m", "1y").cutoff(NOW) == dt.datetime(2023, 4, 15, 12, tzinfo=UTC)
    assert retention.Rule("ticks", "2w").cutoff(NOW) == dt.datetime(2024, 4, 1, 12, tzinfo=UTC)


@pytest.fixture
def layout(db):
    with db, db.cursor() as cur:
        cur.execute(
            "INSERT INTO candleflow.instruments (symbol, exchange, ticker)"
            " VALUES ('BINANCE:BTCUSDT', 'BINANCE', 'BTCUSDT') RETURNING id"
        )
        (iid,) = cur.fetchone()
        cur.execute(LAYOUT)
        bars = synthetic.bars("BINANCE:BTCUSDT", "1m", "2024-01-31 23:00", "2024-02-01 01:00")
        bars.loc[3, "volume"] = np.nan
        for row in bars.itertuples(index=False):
            cur.execute(
                "INSERT INTO candleflow.bars_p (instrument_id, timeframe, ts, source, open,"
                " high, low, close, volume) VALUES (%s, '1m', %s, 'provider', %s, %s, %s, %s, %s)",
                (
                    iid,
                    row.ts,
                    row.open,
                    row.high,
                    row.low,
                    row.close,
                    None if np.isnan(row.volume) else row.volume,
                ),
            )
        cur.execute(
            "INSERT INTO candleflow.bars_p (instrument_id, timeframe, ts, source, open, high,"
            " low, close) VALUES (%s, '1h', '2023-06-01', 'provider', 1, 1, 1, 1)",
            (iid,),
        )
        cur.execute(
            "INSERT INTO candleflow.ticks_p (instrument_id, ts, price) SELECT %s, t, 100"
            " FROM generate_series(timestamptz '2024-04-13', '2024-04-14 23:00', '1 hour') t",
            (iid,),
        )
    return bars


def count(db, table: str) -> int | None:
    with db.cursor() as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (table,))
        if not cur.fetchone()[0]:
            return None
        cur.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - the test's own names
        return cur.fetchone()[0]


def test_only_expired_partitions_are_dropped_and_exports_hold_their_rows(db, layout, tmp_path):
    found = retention.list_partitions(db, "candleflow.bars_p") + retention.list_partitions(
        db, "candleflow.ticks_p"
    )
    assert {(p.name, p.target, p.start.isoformat()) for p in found} == {
        ("candleflow.bars_p_1m_2024_01", "1m", "2024-01-01T00:00:00+00:00"),
        ("candleflow.bars_p_1m_2024_02", "1m", "2024-02-01T00:00:00+00:00"),
        ("candleflow.bars_p_1h_2023", "1h", "2023-01-01T00:00:00+00:00"),
        ("candleflow.ticks_p_2024_04_13", "ticks", "2024-04-13T00:00:00+00:00"),
        ("candleflow.ticks_p_2024_04_14", "ticks", "2024-04-14T00:00:00+00:00"),
    }
    db.rollback()
    rules = retention.parse_rules("1m=2mo:export,ticks=1d")

    dropped = retention.apply_retention(db, rules, found, NOW, export_dir=tmp_path)

    assert dropped == ["candleflow.bars_p_1m_2024_01", "candleflow.ticks_p_2024_04_13"]
    assert count(db, "candleflow.bars_p_1m_2024_01") is None
    assert count(db, "candleflow.ticks_p_2024_04_13") is None
    assert count(db, "candleflow.bars_p_1m_2024_02") == 60
    assert count(db, "candleflow.bars_p_1h_2023") == 1  # no rule for 1h: kept
    assert count(db, "candleflow.ticks_p_2024_04_14") == 24
    exported = pd.read_parquet(tmp_path / "symbol=BINANCE:BTCUSDT" / "month=2024-01" / "1m.parquet")
    january = layout[layout["ts"] < "2024-02-01"].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        exported[["ts", "open", "high", "low", "close", "volume"]], january, check_exact=True
    )
    assert list(tmp_path.rglob("ticks.parquet")) == []  # ticks were only dropped
    assert retention.apply_retention(db, rules, [], NOW) == []


def test_an_export_without_a_folder_drops_nothing(db, layout, monkeypatch):
    monkeypatch.delenv(retention.EXPORT_DIR_ENV, raising=False)
    found = retention.list_partitions(db, "candleflow.bars_p")
    db.rollback()
    with pytest.raises(ConfigError, match="CANDLEFLOW_EXPORT_DIR"):
        retention.apply_retention(db, retention.parse_rules("1m=1mo:export"), found, NOW)
    assert count(db, "candleflow.bars_p_1m_2024_01") == 60
