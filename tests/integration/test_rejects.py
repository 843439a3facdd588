"""Idempotent rejects: a retried, cleared or repeated run leaves one copy of each rejected row.

The bad window is the replay server's ``bad_bars`` scenario (six corrupted bars in a
known window) synced through the real sync service; the bad ticks are a canonical CSV.
"""

from __future__ import annotations

import datetime as dt

import pytest

from candleflow.db.rejects import write_rejected_bars
from candleflow.errors import ValidationFailed
from candleflow.services.sync import sync
from candleflow.services.ticks.imports import import_ticks
from candleflow.testing import ReplayServer

START = dt.datetime(2024, 3, 4, tzinfo=dt.UTC)
END = dt.datetime(2024, 3, 8, tzinfo=dt.UTC)

pytestmark = pytest.mark.timeout(240)


def _rejected(db, table: str = "rejected_bars") -> list[tuple]:
    with db.cursor() as cur:
        if table == "rejected_bars":
            cur.execute(
                "SELECT symbol, timeframe, ts, rules, raw, run_id FROM candleflow.rejected_bars"
                " ORDER BY ts, raw::text"
            )
        else:
            cur.execute(
                "SELECT symbol, ts, rules, raw, run_id FROM candleflow.rejected_ticks"
                " ORDER BY ts, raw::text"
            )
        return cur.fetchall()


def _sync(srv, db_url: str, run_id: str, threshold: float = 0.5) -> dict:
    return sync(
        "NASDAQ:MSFT",
        "1h",
        START,
        END,
        provider_options={"url": f"{srv.url}?scenario=bad_bars", "timeout": 10, "backoff": 0.05},
        url=db_url,
        reject_threshold=threshold,
        run_id=run_id,
    )


def test_the_same_bad_window_synced_again_leaves_one_copy_of_each_reject(db_url, db):
    with ReplayServer(seed=3, now=END.timestamp(), bar_cap=28) as srv:
        first = _sync(srv, db_url, "run-a")
        once = _rejected(db)
        _sync(srv, db_url, "run-b")  # a second run id (a cleared run, the next schedule)
        twice = _rejected(db)
        again = _sync(srv, db_url, "run-b")  # the same run id again (an Airflow retry)
    assert first["rows_rejected"] == again["rows_rejected"] == len(once) > 0
    assert len(twice) == len(once) == len(_rejected(db))
    # the same rows, now attributed to the last run that saw them
    assert [r[:5] for r in twice] == [r[:5] for r in once]
    assert {r[5] for r in once} == {"run-a"} and {r[5] for r in _rejected(db)} == {"run-b"}


def test_a_sync_keys_each_reject_by_its_provider_and_load_window(db_url, db):
    """The whole key of ``rejected_bars`` is written on the sync path: the provider and the
    window of the load (the ``load_audit`` row that counted the rejects)."""
    with ReplayServer(seed=3, now=END.timestamp(), bar_cap=28) as srv:
        _sync(srv, db_url, "run-k")
    with db.cursor() as cur:
        cur.execute(
            "SELECT DISTINCT r.provider, r.window_start, r.window_end, a.provider,"
            " a.window_start, a.window_end FROM candleflow.rejected_bars r"
            " LEFT JOIN candleflow.load_audit a ON a.run_id = r.run_id AND a.symbol = r.symbol"
            " AND a.rows_rejected > 0"
        )
        keys = cur.fetchall()
    assert len(keys) == 1, keys  # one window (one slice) rejected bars, all keyed alike
    provider, start, end, *audited = keys[0]
    assert (provider, start, end) == tuple(audited)
    assert provider == "tradingview" and start is not None and end is not None


def test_a_window_failed_on_its_rejects_and_retried_keeps_one_copy(db_url, db):
    with ReplayServer(seed=3, now=END.timestamp(), bar_cap=28) as srv:
        for _ in range(3):  # Airflow would not retry it (permanent), a user might clear it
            with pytest.raises(ValidationFailed):
                _sync(srv, db_url, "run-x", threshold=0.01)
    rows = _rejected(db)
    assert len(rows) == 6  # the scenario's six corrupted bars
    assert len({(r[2], str(r[4])) for r in rows}) == 6


def test_same_values_in_two_windows_are_kept_once_per_window(db):
    import pandas as pd

    ts = pd.Timestamp("2024-03-04 10:00", tz="UTC")
    rejected = pd.DataFrame(
        {"ts": [ts], "rules": [["high_ge_low"]], "raw": [{"ts": ts.isoformat(), "high": 1.0}]}
    )
    day = (dt.datetime(2024, 3, 4, tzinfo=dt.UTC), dt.datetime(2024, 3, 5, tzinfo=dt.UTC))
    month = (dt.datetime(2024, 3, 1, tzinfo=dt.UTC), dt.datetime(2024, 4, 1, tzinfo=dt.UTC))
    for window, run in ((day, "d1"), (month, "m1"), (day, "d2"), (month, "m2")):
        with db:
            write_rejected_bars(
                db,
                rejected,
                instrument_id=None,
                symbol="NASDAQ:MSFT",
                timeframe="1h",
                run_id=run,
                provider="tradingview",
                window=window,
            )
    with db.cursor() as cur:
        cur.execute(
            "SELECT window_start, run_id FROM candleflow.rejected_bars ORDER BY window_start"
        )
        assert cur.fetchall() == [(month[0], "m2"), (day[0], "d2")]


def test_a_tick_file_imported_twice_records_its_rejects_once(db, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(
        "ts,price,size\n"
        "2024-03-01T10:00:00+00:00,100,1\n"
        "2024-03-01T10:00:01+00:00,-1,1\n"  # non_positive_price
        "2024-03-01T10:00:01+00:00,-1,1\n"  # the same values again: a second distinct row
        "2024-03-01T10:00:02+00:00,101,-3\n"  # negative_size
    )
    now = dt.datetime(2024, 3, 2, tzinfo=dt.UTC)
    first = import_ticks(path, "TEST:REJ", run_id="i1", now=now)
    once = _rejected(db, "rejected_ticks")
    second = import_ticks(path, "TEST:REJ", run_id="i2", now=now)
    assert first.rejected == second.rejected == 3
    rows = _rejected(db, "rejected_ticks")
    assert len(rows) == len(once) == 3  # the two equal rows differ by their seq (0 and 1)
    assert [r[:4] for r in rows] == [r[:4] for r in once]
    assert {r[4] for r in rows} == {"i2"}
