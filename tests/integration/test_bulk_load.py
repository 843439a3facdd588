"""Integration tests of the bulk load commands against a real PostgreSQL (one database per test).

Frames are built by hand so every expected count is known in advance.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pandas as pd
import psycopg2
import pytest

from candleflow.db import audit, bulk, connection
from candleflow.db import bars as bar_writer
from candleflow.db import ticks as ticks_db
from candleflow.db.audit import AuditRecord
from candleflow.db.bars import LoadCounts

T0 = pd.Timestamp("2024-01-02 00:00:00.123456", tz="UTC")


def bars(n: int, *, start: int = 0, price: float = 100.0, volume: float | None = 10.0):
    """n one-minute bars from T0 + start minutes; prices rise by 1 per bar."""
    ts = pd.date_range(T0 + pd.Timedelta(minutes=start), periods=n, freq="1min", unit="us")
    base = price + np.arange(start, start + n, dtype="float64")
    return pd.DataFrame(
        {
            "ts": ts,
            "open": base,
            "high": base + 2,
            "low": base - 1,
            "close": base + 1,
            "volume": np.full(n, np.nan if volume is None else volume),
        }
    )


@pytest.fixture
def instrument(db) -> int:
    with db.cursor() as cur:
        cur.execute(
            "INSERT INTO candleflow.instruments (symbol, exchange, ticker)"
            " VALUES ('X:Y','X','Y') RETURNING id"
        )
        (instrument_id,) = cur.fetchone()
    db.commit()
    return instrument_id


def load(url: str, instrument_id: int, frame, *, run_id: str = "r1", source: str = "provider"):
    with connection.transaction(url) as conn:
        bar_writer.lock_series(conn, instrument_id, "1m")
        return bar_writer.upsert_bars(
            conn, instrument_id, "1m", frame, run_id=run_id, source=source
        )


def rows(conn, sql: str = "SELECT * FROM candleflow.bars ORDER BY source, ts"):
    with conn.cursor() as cur:
        cur.execute(sql)
        result = cur.fetchall()
    conn.commit()
    return result


def n_tup_upd(conn) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT pg_stat_force_next_flush()")
        cur.execute("SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'bars'")
        (value,) = cur.fetchone()
    conn.commit()
    return value


def test_insert_counts_and_values_round_trip(db_url, db, instrument):
    frame = bars(5)
    assert load(db_url, instrument, frame) == LoadCounts(5, 0, 0)
    query = "SELECT ts, open, high, low, close, volume FROM candleflow.bars ORDER BY ts"
    stored = pd.DataFrame(rows(db, query), columns=list(frame.columns))
    stored["ts"] = pd.to_datetime(stored["ts"], utc=True).dt.as_unit("us")
    assert stored["ts"].dt.tz is not None
    assert (stored["ts"] == frame["ts"]).all()  # microseconds and UTC round-trip exactly
    assert stored["ts"].iloc[0].microsecond == 123456
    pd.testing.assert_frame_equal(stored.drop(columns="ts"), frame.drop(columns="ts"))


def test_reload_rewrites_nothing(db_url, db, instrument):
    frame = bars(50)
    load(db_url, instrument, frame, run_id="first")
    before = rows(db, "SELECT ts, loaded_at, run_id, xmin::text FROM candleflow.bars ORDER BY ts")
    updates = n_tup_upd(db)
    assert load(db_url, instrument, frame, run_id="second") == LoadCounts(0, 0, 50)
    after = rows(db, "SELECT ts, loaded_at, run_id, xmin::text FROM candleflow.bars ORDER BY ts")
    assert after == before  # same loaded_at, run_id and tuple version
    assert n_tup_upd(db) == updates


def test_changed_value_updates_exactly_that_row(db_url, db, instrument):
    frame = bars(10)
    load(db_url, instrument, frame, run_id="first")
    changed = frame.copy()
    changed.loc[3, "close"] += 0.5
    assert load(db_url, instrument, changed, run_id="second") == LoadCounts(0, 1, 9)
    by_run = rows(db, "SELECT run_id, count(*) FROM candleflow.bars GROUP BY 1 ORDER BY 1")
    assert by_run == [("first", 9), ("second", 1)]
    (close,) = rows(db, "SELECT close FROM candleflow.bars WHERE run_id = 'second'")[0]
    assert close == changed.loc[3, "close"]


def test_overlapping_window_mixes_insert_update_unchanged(db_url, db, instrument):
    load(db_url, instrument, bars(10), run_id="first")
    window = bars(10, start=5)  # 5..9 stored, 10..14 new
    window.loc[2, "high"] += 1.0  # ts 7 changed
    assert load(db_url, instrument, window, run_id="second") == LoadCounts(5, 1, 4)
    by_run = rows(db, "SELECT run_id, count(*) FROM candleflow.bars GROUP BY 1 ORDER BY 1")
    assert by_run == [("first", 9), ("second", 6)]


def test_arrow_table_and_other_timezone_load_the_same_instants(db_url, db, instrument):
    import pyarrow as pa

    frame = bars(3)
    local = frame.assign(ts=frame["ts"].dt.tz_convert("America/New_York"))
    assert load(db_url, instrument, pa.Table.from_pandas(local)) == LoadCounts(3, 0, 0)
    assert load(db_url, instrument, frame) == LoadCounts(0, 0, 3)
    stored = [ts for (ts,) in rows(db, "SELECT ts FROM candleflow.bars ORDER BY ts")]
    assert stored == list(frame["ts"].dt.to_pydatetime())


def test_unknown_instrument_is_refused(db_url, instrument):
    with pytest.raises(ValueError, match="unknown instrument_id"):
        load(db_url, instrument + 1, bars(2))


def test_null_volume_round_trips_and_null_equals_null(db_url, db, instrument):
    frame = bars(4, volume=None)
    frame.loc[1, "volume"] = 7.0
    assert load(db_url, instrument, frame) == LoadCounts(4, 0, 0)
    volumes = [v for (v,) in rows(db, "SELECT volume FROM candleflow.bars ORDER BY ts")]
    assert volumes == [None, 7.0, None, None]
    assert load(db_url, instrument, frame, run_id="again") == LoadCounts(0, 0, 4)
    frame.loc[2, "volume"] = 0.0  # NULL -> 0 is a change
    assert load(db_url, instrument, frame, run_id="third") == LoadCounts(0, 1, 3)


def test_provider_and_rollup_live_side_by_side(db_url, db, instrument):
    frame = bars(3)
    assert load(db_url, instrument, frame, source="provider") == LoadCounts(3, 0, 0)
    rolled = frame.assign(close=frame["close"] - 0.5)
    assert load(db_url, instrument, rolled, source="rollup") == LoadCounts(3, 0, 0)
    counts = rows(db, "SELECT source, count(*) FROM candleflow.bars GROUP BY 1 ORDER BY 1")
    assert counts == [("provider", 3), ("rollup", 3)]


def test_duplicate_ts_in_frame_keeps_last(db_url, db, instrument):
    frame = bars(3)
    dup = pd.concat([frame, frame.iloc[[1]].assign(close=frame.loc[1, "open"])], ignore_index=True)
    assert load(db_url, instrument, dup) == LoadCounts(3, 0, 0)
    closes = [c for (c,) in rows(db, "SELECT close FROM candleflow.bars ORDER BY ts")]
    assert closes[1] == frame.loc[1, "open"]


def test_watermark_never_moves_backwards(db):
    with db.cursor() as cur:
        cur.execute(
            "INSERT INTO candleflow.instruments (symbol, exchange, ticker)"
            " VALUES ('X:Y','X','Y') RETURNING id"
        )
        (iid,) = cur.fetchone()
    late, early = dt.datetime(2024, 5, 1, tzinfo=dt.UTC), dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    assert audit.advance_watermark(db, iid, "1h", late, run_id="live") == late
    assert audit.advance_watermark(db, iid, "1h", early, run_id="backfill") == late
    later = late + dt.timedelta(hours=1)
    assert audit.advance_watermark(db, iid, "1h", later, run_id="next") == later
    db.commit()
    assert rows(db, "SELECT last_bar_ts, last_run_id FROM candleflow.sync_state") == [
        (later, "next")
    ]
    with pytest.raises(ValueError, match="timezone-aware"):
        audit.advance_watermark(db, iid, "1h", dt.datetime(2024, 6, 1), run_id="naive")


def test_audit_row_has_all_counts(db, instrument):
    started = dt.datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)
    record = AuditRecord(
        run_id="run-9",
        instrument_id=instrument,
        symbol="X:Y",
        timeframe="1m",
        provider="tradingview",
        window_start=started - dt.timedelta(days=1),
        window_end=started,
        outcome="success",
        started_at=started,
        rows_fetched=10,
        rows_valid=8,
        rows_rejected=2,
        rows_flagged=1,
        rows_inserted=5,
        rows_updated=2,
        rows_unchanged=1,
        duration_s=1.25,
        validation={"rules": {"ohlc": 2}, "ok": False},
    )
    audit_id = audit.write_audit(db, record)
    db.commit()
    with db.cursor() as cur:
        cur.execute("SELECT * FROM candleflow.load_audit WHERE id = %s", (audit_id,))
        stored = dict(zip([d.name for d in cur.description], cur.fetchone(), strict=True))
    for key, value in record.as_dict().items():
        assert stored[key] == value, key
    assert stored["finished_at"] >= started


def test_lock_blocks_same_series_only(db_url, instrument):
    holder = connection.connect(db_url)
    other = connection.connect(db_url)
    try:
        bar_writer.lock_series(holder, instrument, "1m")
        with other.cursor() as cur:
            cur.execute("SET lock_timeout = '200ms'")
        bar_writer.lock_series(other, instrument, "5m")  # another series: no wait
        other.rollback()
        with other.cursor() as cur:
            cur.execute("SET lock_timeout = '200ms'")
        with pytest.raises(psycopg2.errors.LockNotAvailable):
            bar_writer.lock_series(other, instrument, "1m")
        other.rollback()
        holder.commit()  # transaction end releases it
        bar_writer.lock_series(other, instrument, "1m")
    finally:
        holder.close()
        other.close()


def test_concurrent_overlapping_loads_leave_one_copy(db_url, db, instrument):
    windows = [bars(600, start=0), bars(600, start=300)]
    barrier = threading.Barrier(2)
    results: list[LoadCounts] = []

    def run(frame):
        with connection.transaction(db_url) as conn:
            barrier.wait()
            bar_writer.lock_series(conn, instrument, "1m")
            results.append(bar_writer.upsert_bars(conn, instrument, "1m", frame, run_id="t"))

    threads = [threading.Thread(target=run, args=(w,)) for w in windows]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 2
    assert sum(r.inserted for r in results) == 900
    assert sum(r.unchanged for r in results) == 300
    assert sum(r.updated for r in results) == 0
    assert rows(db, "SELECT count(*), count(DISTINCT ts) FROM candleflow.bars") == [(900, 900)]


def test_check_violation_rolls_back_whole_window(db_url, db, instrument):
    frame = bars(100)
    frame.loc[99, "high"] = frame.loc[99, "low"] - 1  # violates high >= low
    with pytest.raises(psycopg2.errors.CheckViolation):
        load(db_url, instrument, frame)
    assert rows(db, "SELECT count(*) FROM candleflow.bars") == [(0,)]


def test_error_between_steps_rolls_back(db_url, db, instrument):
    def failing_load():
        with connection.transaction(db_url) as conn:
            bar_writer.lock_series(conn, instrument, "1m")
            bar_writer.upsert_bars(conn, instrument, "1m", bars(10), run_id="r")
            audit.advance_watermark(conn, instrument, "1m", T0.to_pydatetime(), run_id="r")
            raise RuntimeError("provider went away before the audit row")

    with pytest.raises(RuntimeError, match="went away"):
        failing_load()
    assert rows(db, "SELECT count(*) FROM candleflow.bars") == [(0,)]
    assert rows(db, "SELECT count(*) FROM candleflow.sync_state") == [(0,)]


KILLED_LOAD = textwrap.dedent(
    """
    import sys, time
    import numpy as np, pandas as pd
    from candleflow.db import bars as bar_writer, connection
    url, iid, n, pause = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    ts = pd.date_range("2024-01-02", periods=n, freq="1min", tz="UTC", unit="us")
    p = np.arange(n, dtype="float64") + 100
    frame = pd.DataFrame({"ts": ts, "open": p, "high": p + 2, "low": p - 1, "close": p + 1,
                          "volume": 1.0})
    with connection.transaction(url) as conn:
        bar_writer.lock_series(conn, iid, "1m")
        counts = bar_writer.upsert_bars(conn, iid, "1m", frame, run_id="killed")
        print("staged", *counts, flush=True)
        time.sleep(pause)
    print("committed", flush=True)
    """
)


def test_sigkill_mid_transaction_leaves_nothing(db_url, db, instrument):
    args = [sys.executable, "-c", KILLED_LOAD, db_url, str(instrument), "5000"]
    proc = subprocess.Popen([*args, "120"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().split() == ["staged", "5000", "0", "0"]
        assert rows(db, "SELECT count(*) FROM candleflow.bars") == [(0,)]
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 30
    while (
        rows(
            db,
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'candleflow'"
            " AND query LIKE '%%cf_stage%%'",
        )[0][0]
        and time.monotonic() < deadline
    ):
        time.sleep(0.1)  # the backend notices the closed socket and rolls back
    assert rows(db, "SELECT count(*) FROM candleflow.bars") == [(0,)]
    rerun = subprocess.run([*args, "0"], capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert rerun.stdout.split() == ["staged", "5000", "0", "0", "committed"]
    assert rows(db, "SELECT count(*), min(run_id) FROM candleflow.bars") == [(5000, "killed")]


def test_ticks_insert_ignores_duplicates(db_url, db, instrument):
    ts = pd.to_datetime(
        ["2024-01-02 00:00:00.000001", "2024-01-02 00:00:00.000001", "2024-01-02 00:00:01.000000"],
        utc=True,
    ).as_unit("us")
    ticks = pd.DataFrame(
        {
            "ts": ts,
            "seq": [0, 1, 0],
            "price": [10.0, 10.5, np.nan],
            "size": [1.0, np.nan, np.nan],
            "day_volume": [np.nan] * 3,
            "bid": [9.9, 10.4, 10.1],
            "ask": [10.1, 10.6, 10.3],
        }
    )
    assert ticks_db.insert_ticks(db, instrument, ticks, run_id="t1") == (3, 0)
    replay = pd.concat([ticks, ticks.iloc[[0]]], ignore_index=True)
    assert ticks_db.insert_ticks(db, instrument, replay, run_id="t2") == (0, 4)
    db.commit()
    stored = rows(db, "SELECT ts, seq, price, size, run_id FROM candleflow.ticks ORDER BY ts, seq")
    assert [(r[0], r[1], r[2], r[3], r[4]) for r in stored] == [
        (ts[0].to_pydatetime(), 0, 10.0, 1.0, "t1"),
        (ts[1].to_pydatetime(), 1, 10.5, None, "t1"),
        (ts[2].to_pydatetime(), 0, None, None, "t1"),
    ]


def test_encode_binary_refuses_naive_and_text(db):
    frame = pd.DataFrame({"ts": pd.date_range("2024-01-01", periods=2, unit="us"), "x": ["a", "b"]})
    with pytest.raises(ValueError, match="timezone-aware"):
        bulk.encode_binary(frame, {"ts": "timestamptz"})
    with pytest.raises(ValueError, match="unsupported type"):
        bulk.encode_binary(frame, {"x": "text"})
