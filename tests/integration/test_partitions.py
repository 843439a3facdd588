"""Partitioned bars and ticks (migration 0022): partitions ahead, the DEFAULT watched, the
conversion of a warehouse that holds bars, and pruning in the plans of typical reads.

The oracles: a fresh warehouse has the current period's partitions and the months ahead; a
bar of a month without a partition is kept (in a DEFAULT) and fails the health check until
the maintenance gives it a partition; a warehouse migrated up to 0021 with bars, ticks and a
compressed month in it answers the same, row for row and through the views, after 0022; and
EXPLAIN of a one-month read names only that month's partition.
"""

from __future__ import annotations

import datetime as dt
import importlib
import re

import pandas as pd
import pytest

from candleflow import query
from candleflow.db import bars as db_bars
from candleflow.db import compress, connection, migrate, partitions, ticks
from candleflow.errors import WarehouseUnhealthy
from candleflow.services.health import check_warehouse
from candleflow.testing import synthetic
from tests.support.bars import crypto_instrument

UTC = dt.UTC
SYMBOL = "BINANCE:BTCUSDT"


query_bars = importlib.import_module("candleflow.query.bars")  # the module, not query.bars


def _load(db, iid: int, tf: str, start: str, end: str, run_id: str = "test") -> int:
    frame = synthetic.bars(SYMBOL, tf, start, end)
    with db:
        db_bars.upsert_bars(db, iid, tf, frame, run_id=run_id)
    return len(frame)


def _rows(db, text: str, params=()) -> list[tuple]:
    with db.cursor() as cur:
        cur.execute(text, params)
        rows = cur.fetchall()
    db.rollback()
    return rows


def _exists(db, name: str) -> bool:
    return _rows(db, "SELECT to_regclass(%s) IS NOT NULL", (name,))[0][0]


def _month(at: dt.datetime, n: int) -> str:
    index = at.year * 12 + at.month - 1 + n
    year, month = divmod(index, 12)
    return f"{year}_{month + 1:02d}"


def test_partitions_ahead_exist_after_migrate_and_maintenance(db, db_url):
    now = dt.datetime.now(UTC)
    for n in range(4):  # the migration: the current month and 3 ahead
        assert _exists(db, f"candleflow.bars_1m_{_month(now, n)}")
        assert _exists(db, f"candleflow.ticks_{_month(now, n)}")
    assert _exists(db, f"candleflow.bars_1h_{now.year}")
    assert not _exists(db, f"candleflow.bars_1m_{_month(now, 6)}")

    done = partitions.maintain(db, ahead=6)
    assert done["default_rows"] == {} and done["adopted"] == 0
    assert done["created"] >= 2 * 4  # 1m, 3m, 5m and ticks: months 4 to 6 at least
    for n in range(7):
        for parent in ("bars_1m", "bars_3m", "bars_5m", "ticks"):
            assert _exists(db, f"candleflow.{parent}_{_month(now, n)}")
    assert partitions.maintain(db, ahead=6)["created"] == 0  # idempotent
    assert partitions.missing(db) == []
    assert check_warehouse(db_url)["ok"] is True
    # a writer's cover creates the periods its rows fall in, never the gaps between them
    far = [dt.datetime(1, 1, 1, tzinfo=UTC), dt.datetime(2023, 2, 3, tzinfo=UTC)]
    assert partitions.cover(db, "ticks", partitions.months_of(pd.Series(far))) == 2
    assert partitions.cover(db, "bars_1h", partitions.months_of(pd.Series(far))) == 2
    assert partitions.cover(db, "bars_1d", partitions.months_of(pd.Series(far))) == 0
    assert _exists(db, "candleflow.ticks_0001_01") and _exists(db, "candleflow.bars_1h_0001")
    assert not _exists(db, "candleflow.ticks_2000_01")


def test_a_bar_without_a_partition_lands_in_default_fails_the_check_until_adopted(db, db_url):
    iid = crypto_instrument(db)
    loaded = _load(db, iid, "1m", "2019-03-31 23:00", "2019-04-01 01:00")  # two months
    before = _rows(db, "SELECT * FROM candleflow.bars ORDER BY ts")
    assert len(before) == loaded
    assert partitions.default_rows(db) == {"candleflow.bars_1m_default": loaded}
    with pytest.raises(WarehouseUnhealthy, match=r"bars_1m_default: \d+.*db partitions"):
        check_warehouse(db_url)
    assert _rows(db, "SELECT ok FROM candleflow.health_checks") == [(False,)]

    done = partitions.maintain(db)
    assert done["adopted"] == 2 and done["default_rows"] == {}
    assert _rows(db, "SELECT count(*) FROM candleflow.bars_1m_2019_03")[0][0] == 60
    assert _rows(db, "SELECT count(*) FROM candleflow.bars_1m_2019_04")[0][0] == loaded - 60
    assert _rows(db, "SELECT * FROM candleflow.bars ORDER BY ts") == before
    assert check_warehouse(db_url)["ok"] is True
    # a re-load of the same bars now goes to the adopted partitions and changes nothing
    frame = synthetic.bars(SYMBOL, "1m", "2019-03-31 23:00", "2019-04-01 01:00")
    with db:
        counts = db_bars.upsert_bars(db, iid, "1m", frame, run_id="again")
    assert counts == db_bars.LoadCounts(0, 0, loaded)


def _snapshot(db) -> dict[str, list[tuple]]:
    return {
        "bars": _rows(db, "SELECT * FROM candleflow.bars ORDER BY 1, 2, 4, 3"),
        "ticks": _rows(db, "SELECT * FROM candleflow.ticks ORDER BY 1, 2, 3"),
        "bar_rows": _rows(db, "SELECT * FROM candleflow.bar_rows ORDER BY 1, 2, 4, 3"),
        "analytics": _rows(db, "SELECT * FROM analytics.bars ORDER BY 1, 3, 4, 11"),
        "daily": _rows(db, "SELECT * FROM analytics.daily_bars ORDER BY 1, 2, 3"),
        "versions": _rows(db, "SELECT * FROM candleflow.series_versions ORDER BY 1, 2"),
        "dirty": _rows(db, "SELECT count(*) FROM candleflow.rollup_dirty"),
        "revisions": _rows(db, "SELECT count(*) FROM candleflow.bar_revisions"),
    }


def test_migration_converts_a_warehouse_with_bars_and_every_bar_reads_back_the_same(
    empty_db_url, monkeypatch
):
    monkeypatch.setenv("CANDLEFLOW_DATABASE_URL", empty_db_url)
    db = connection.connect(empty_db_url)
    try:
        migrate.migrate(db, upto=21)
        assert _rows(db, "SELECT max(version) FROM candleflow.schema_migrations") == [(21,)]
        iid = crypto_instrument(db)
        for tf, start, end in (
            ("1m", "2024-01-31 22:00", "2024-02-01 02:00"),
            ("1m", "2024-03-10 00:00", "2024-03-10 03:00"),
            ("1h", "2023-12-30 00:00", "2024-01-03 00:00"),
            ("1d", "2024-01-01", "2024-03-01"),
        ):
            _load(db, iid, tf, start, end)
        _load(db, iid, "1m", "2024-03-10 01:00", "2024-03-10 01:10", run_id="fix")
        with db:  # January 2024's 1m bars as a compressed segment, the rest plain rows
            key = compress.SegmentKey(iid, "1m", "provider", dt.datetime(2024, 1, 1, tzinfo=UTC))
            assert compress.compress_segment(db, key, remove_rows=True) == 120
        tick_frame = pd.DataFrame(
            {
                "ts": pd.date_range("2024-03-10 00:00", periods=50, freq="37s", tz="UTC"),
                "price": 100.0 + pd.RangeIndex(50) / 10,
                "size": 1.0,
                "day_volume": None,
                "bid": None,
                "ask": None,
            }
        )
        with db:
            ticks.insert_ticks(db, iid, tick_frame, run_id="ticks")
        before = _snapshot(db)
        assert len(before["bars"]) > 100 and len(before["ticks"]) == 50
        assert len(before["bar_rows"]) > len(before["bars"])  # a compressed month too
        read_before = query.bars(SYMBOL, "1m", "2024-01-01", "2024-04-01", url=empty_db_url)

        assert migrate.migrate(db) == [22]
        assert _snapshot(db) == before  # every row, through every view; no trigger fired
        read_after = query.bars(SYMBOL, "1m", "2024-01-01", "2024-04-01", url=empty_db_url)
        pd.testing.assert_frame_equal(read_after, read_before)
        assert partitions.default_rows(db) == {}
        assert _rows(db, "SELECT count(*) FROM candleflow.bars_1m_2024_03")[0][0] == 180
        assert _rows(db, "SELECT count(*) FROM candleflow.bars_1h_2023")[0][0] == 48
        assert _rows(db, "SELECT count(*) FROM candleflow.ticks_2024_03")[0][0] == 50
        assert (
            _rows(db, "SELECT relkind FROM pg_class WHERE oid = 'candleflow.bars'::regclass")[0][0]
            == "p"
        )
        # the triggers work on the partitioned tables: a correction keeps its revision
        frame = synthetic.bars(SYMBOL, "1m", "2024-03-10 00:00", "2024-03-10 00:01")
        frame["close"] = frame["close"] * 1.001
        frame["high"] = frame[["high", "close"]].max(axis=1)
        frame["low"] = frame[["low", "close"]].min(axis=1)
        with db:
            counts = db_bars.upsert_bars(db, iid, "1m", frame, run_id="correction")
        assert counts.updated == 1
        assert _rows(db, "SELECT count(*) FROM candleflow.bar_revisions")[0][0] == (
            before["revisions"][0][0] + 1
        )
    finally:
        db.close()


def _plan(db, text: str, params=()) -> str:
    return "\n".join(row[0] for row in _rows(db, "EXPLAIN " + text, params))


def _read(db, text: str, params=()) -> set[str]:
    """The partitions a statement actually scanned: EXPLAIN ANALYZE's scans, less those
    pruned when it ran ("never executed": a correlated subquery's partitions are pruned
    for each outer row)."""
    lines = _rows(db, "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + text, params)
    return _scanned("\n".join(r[0] for r in lines if "never executed" not in r[0]))


def _scanned(plan: str) -> set[str]:
    return set(re.findall(r" on (bars_\w+|ticks_\w+)", plan))


def test_one_month_reads_touch_only_that_months_partition(db):
    iid = crypto_instrument(db)
    for month in ("2024-02", "2024-03", "2024-04"):
        with db, db.cursor() as cur:
            cur.execute("SELECT candleflow.ensure_partition('bars_1m', %s)", (f"{month}-01",))
    _load(db, iid, "1m", "2024-02-29 23:00", "2024-04-01 01:00")
    with db, db.cursor() as cur:
        cur.execute("ANALYZE candleflow.bars")
    window = (iid, "1m", "provider", dt.datetime(2024, 3, 1, tzinfo=UTC))
    end = dt.datetime(2024, 4, 1, tzinfo=UTC)
    # the query module's statement, as it sends it ($1..$8), planned with its values
    with db, db.cursor() as cur:
        cur.execute(f"PREPARE series AS {query_bars._SERIES_SQL}")
    args = (*window, end, False, 60, None)  # a provider read: no rollup shadow to look for
    custom = _plan(db, "EXECUTE series (%s, %s, %s, %s, %s, %s, %s, %s)", args)
    assert _scanned(custom) == {"bars_1m_2024_03"}, custom
    with db, db.cursor() as cur:
        cur.execute("SET plan_cache_mode = force_generic_plan")
    generic = "\n".join(
        row[0]
        for row in _rows(
            db, "EXPLAIN (ANALYZE, COSTS OFF) EXECUTE series (%s, %s, %s, %s, %s, %s, %s, %s)", args
        )
    )
    assert "Subplans Removed" in generic, generic  # pruned when it runs
    # the views' typical reads: one symbol, one timeframe, one month
    for view in ("bars", "adjusted_bars"):
        text = (
            f"SELECT * FROM analytics.{view} WHERE symbol = %s AND timeframe = '1m'"  # noqa: S608
            " AND ts >= %s AND ts < %s"
        )
        assert _read(db, text, (SYMBOL, window[3], end)) == {"bars_1m_2024_03"}, _plan(
            db, text, (SYMBOL, window[3], end)
        )


def test_a_backfill_of_old_history_gets_partitions_of_its_own(db, db_url):
    """The sync service covers a slice's periods before its load transaction: a backfill
    (1m across a month boundary, 1h of an old year) leaves every DEFAULT empty."""
    from candleflow.services.sync import sync
    from candleflow.testing import ReplayServer

    start, end = dt.datetime(2024, 2, 29, 22, tzinfo=UTC), dt.datetime(2024, 3, 1, 2, tzinfo=UTC)
    with ReplayServer(seed=3, now=end.timestamp()) as srv:
        options = {"url": srv.url, "timeout": 10, "backoff": 0.05}
        for tf in ("1m", "1h"):
            record = sync(SYMBOL, tf, start, end, provider_options=options, url=db_url)
            assert record["outcome"] == "success" and record["rows_inserted"] > 0
    assert partitions.default_rows(db) == {}
    for name in ("bars_1m_2024_02", "bars_1m_2024_03", "bars_1h_2024"):
        assert _rows(db, f"SELECT count(*) > 0 FROM candleflow.{name}")[0][0], name  # noqa: S608


def test_imported_tick_history_and_its_rollup_leave_every_default_empty(db, tmp_path):
    """A tick file of an old month gets its partition before the import's transaction, and
    the BarManager covers the levels of the minutes it rolls up (5m on a monthly, 1h on a
    yearly grid); implausible rows (1970) are rejected and create no partition."""
    from candleflow.managers.bar_manager import BarManager
    from candleflow.services.ticks.imports import import_ticks

    path = tmp_path / "ticks.csv"
    path.write_text(
        "ts,price,size\n"
        "1970-01-01T00:00:05+00:00,99,1\n"
        "2023-05-31T23:58:00+00:00,100,1\n"
        "2023-06-01T00:01:30+00:00,101,2\n"
    )
    result = import_ticks(path, SYMBOL, run_id="history", now=dt.datetime(2024, 1, 1, tzinfo=UTC))
    assert (result.inserted, result.rejected) == (2, 1)
    BarManager(["1m", "5m", "1h"]).rollup(db, run_id="rollup", now=dt.datetime.now(UTC))
    assert partitions.default_rows(db) == {}
    assert not _exists(db, "candleflow.ticks_1970_01")
    assert _rows(db, "SELECT count(*) FROM candleflow.ticks_2023_05")[0][0] == 1
    assert _rows(db, "SELECT count(*) FROM candleflow.bars_5m_2023_06")[0][0] == 1
    assert _rows(db, "SELECT count(*) FROM candleflow.bars_1h_2023")[0][0] == 2


def test_db_partitions_command_adopts_default_rows(db, db_url):
    import os
    import subprocess
    import sys
    from pathlib import Path

    iid = crypto_instrument(db)
    with db, db.cursor() as cur:  # a hand-written insert: nothing covered its month
        cur.execute(
            "INSERT INTO candleflow.ticks (instrument_id, ts, price) VALUES (%s, %s, 1.5)",
            (iid, dt.datetime(2021, 7, 4, tzinfo=UTC)),
        )
    assert partitions.default_rows(db) == {"candleflow.ticks_default": 1}
    db.rollback()  # an open transaction holding the DEFAULT would make the command wait
    cli = str(Path(sys.executable).with_name("candleflow"))
    env = {**os.environ, "CANDLEFLOW_DATABASE_URL": db_url}
    done = subprocess.run(
        [cli, "db", "partitions", "--ahead", "1"], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    assert "1 for rows that were in a DEFAULT partition; DEFAULT rows left: 0" in done.stdout
    assert _rows(db, "SELECT count(*) FROM candleflow.ticks_2021_07")[0][0] == 1
