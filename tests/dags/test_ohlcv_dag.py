"""``ohlcv_1h`` and ``ohlcv_1h_history`` end to end with ``airflow dags test``: the replay
server as the provider, the embedded PostgreSQL as the warehouse, chunk tasks over a few
instruments.

The oracle is ``synthetic.bars`` (what the server serves) with the rule written out: a run
of the interval (S, E] holds the bars whose end ``ts + 1h`` is in (S, E].
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from candleflow.testing import ReplayServer
from tests.support import dag_runs
from tests.support.bars import closed_bars, stored_bars
from tests.support.dag_runs import dags_test

SYMBOLS = ("NASDAQ:AAPL", "BINANCE:BTCUSDT", "SP:SPX")
START = dt.datetime(2024, 3, 4, tzinfo=dt.UTC)
END = dt.datetime(2024, 3, 6, tzinfo=dt.UTC)
HOUR = pd.Timedelta(hours=1)

pytestmark = pytest.mark.timeout(900)


@pytest.fixture
def server():
    with ReplayServer(seed=5) as srv:
        yield srv


@pytest.fixture
def dag_env(airflow_env, db_url, tmp_path, server):
    return dag_runs.dag_env(airflow_env, db_url, tmp_path, server.url, SYMBOLS)


def closed(symbol: str, lo: dt.datetime, hi: dt.datetime) -> pd.DataFrame:
    """The served 1h bars of ``symbol`` that closed in (lo, hi]."""
    return closed_bars(symbol, lo, hi, seed=5)


def test_window_loads_exactly_the_served_bars_and_a_rerun_changes_nothing(dag_env, airflow_bin, db):
    conf = {"start": START.isoformat(), "end": END.isoformat()}
    out = dags_test(airflow_bin, dag_env, "ohlcv_1h", "2024-03-06T12:00:00+00:00", conf)
    # the chunk task's log ends with the per-symbol table
    assert "symbol" in out and "fetched  inserted  updated  rejected  outcome" in out
    for symbol in SYMBOLS:
        expected = closed(symbol, START, END)
        assert len(expected) > 10
        pd.testing.assert_frame_equal(stored_bars(db, symbol), expected, check_exact=True)

    dags_test(airflow_bin, dag_env, "ohlcv_1h", "2024-03-06T13:00:00+00:00", conf)
    with db.cursor() as cur:
        cur.execute(
            "SELECT count(*), sum(rows_inserted), sum(rows_updated), min(outcome), max(outcome)"
            " FROM candleflow.load_audit GROUP BY run_id ORDER BY min(id)"
        )
        first, second = cur.fetchall()
    assert first[0] == second[0] == 3  # one audit row per symbol and run
    assert first[1] > 0
    assert (second[1], second[2], second[3], second[4]) == (0, 0, "success", "success")


def test_a_run_loads_the_bars_that_closed_in_its_interval(dag_env, airflow_bin, db):
    dags_test(airflow_bin, dag_env, "ohlcv_1h", "2024-03-05T16:00:00+00:00")
    with db.cursor() as cur:
        cur.execute("SELECT DISTINCT window_start, window_end FROM candleflow.load_audit")
        windows = cur.fetchall()
        cur.execute("SELECT symbol, rows_inserted FROM candleflow.load_audit ORDER BY symbol")
        inserted = dict(cur.fetchall())
    # At 16:00 with 30 s to settle, (15:00, 16:00] is due only at 16:00:30: the newest due
    # interval is (14:00, 15:00]. BTC's 14:00 bar closes at 15:00; the XNYS 14:30 bars of
    # AAPL and SPX close at 15:30 and belong to the next interval.
    assert windows == [
        (dt.datetime(2024, 3, 5, 14, tzinfo=dt.UTC), dt.datetime(2024, 3, 5, 15, tzinfo=dt.UTC))
    ]
    assert inserted == {"BINANCE:BTCUSDT": 1, "NASDAQ:AAPL": 0, "SP:SPX": 0}
    assert stored_bars(db, "BINANCE:BTCUSDT")["ts"].tolist() == [
        pd.Timestamp("2024-03-05T14:00", tz="UTC")
    ]


def test_a_bad_symbol_fails_the_chunk_once_after_the_others_are_stored(
    airflow_env, db_url, tmp_path, server, airflow_bin, db
):
    symbols = ("NASDAQ:AAPL", "NASDAQ:BADSYM", "BINANCE:BTCUSDT")
    env = dag_runs.dag_env(airflow_env, db_url, tmp_path, server.url, symbols)
    conf = {"start": START.isoformat(), "end": END.isoformat()}
    out = dags_test(airflow_bin, env, "ohlcv_1h", "2024-03-06T12:00:00+00:00", conf, state="failed")
    assert "NASDAQ:BADSYM" in out and "failed permanently" in out
    for symbol in ("NASDAQ:AAPL", "BINANCE:BTCUSDT"):
        pd.testing.assert_frame_equal(stored_bars(db, symbol), closed(symbol, START, END))
    with db.cursor() as cur:
        cur.execute("SELECT symbol, outcome FROM candleflow.load_audit ORDER BY symbol")
        audits = cur.fetchall()
    # One attempt only: a permanent failure (unknown symbol) is not retried.
    assert audits == [
        ("BINANCE:BTCUSDT", "success"),
        ("NASDAQ:AAPL", "success"),
        ("NASDAQ:BADSYM", "failed"),
    ]


def test_two_history_months_equal_one_large_window_value_for_value(dag_env, airflow_bin, db):
    # A manual run of the monthly timetable takes the last closed month: 2 April -> March.
    dags_test(airflow_bin, dag_env, "ohlcv_1h_history", "2024-03-02T00:00:00+00:00")
    dags_test(airflow_bin, dag_env, "ohlcv_1h_history", "2024-04-02T00:00:00+00:00")
    lo, hi = dt.datetime(2024, 2, 1, tzinfo=dt.UTC), dt.datetime(2024, 4, 1, tzinfo=dt.UTC)
    for symbol in SYMBOLS:
        expected = closed(symbol, lo, hi)
        pd.testing.assert_frame_equal(stored_bars(db, symbol), expected, check_exact=True)
    with db.cursor() as cur:
        cur.execute(
            "SELECT window_start, window_end, count(*), min(outcome) FROM candleflow.load_audit"
            " GROUP BY 1, 2 ORDER BY 1"
        )
        months = cur.fetchall()
    assert months == [
        (lo, dt.datetime(2024, 3, 1, tzinfo=dt.UTC), 3, "success"),
        (dt.datetime(2024, 3, 1, tzinfo=dt.UTC), hi, 3, "success"),
    ]


def _series_counts(db, run_id_order: int) -> dict[tuple[str, str], int]:
    """rows_inserted per (symbol, series session) of the ``run_id_order``-th run."""
    with db.cursor() as cur:
        cur.execute(
            "SELECT a.symbol, i.series_session, a.rows_inserted FROM candleflow.load_audit AS a"
            " JOIN candleflow.instruments AS i ON i.id = a.instrument_id"
            " WHERE a.run_id = (SELECT run_id FROM candleflow.load_audit GROUP BY run_id"
            "                   ORDER BY min(id) OFFSET %s LIMIT 1)",
            (run_id_order,),
        )
        return {(s, session): n for s, session, n in cur.fetchall()}


def test_a_watchlist_session_and_the_session_param_load_the_extended_series_apart(
    airflow_env, db_url, tmp_path, server, airflow_bin, db
):
    from candleflow import calendars
    from candleflow.domain import Timeframe

    symbols = '["NASDAQ:AAPL", "BINANCE:BTCUSDT", { symbol = "NASDAQ:AAPL", session = "extended" }]'
    env = dag_runs.dag_env(airflow_env, db_url, tmp_path, server.url, ())
    (tmp_path / "watchlist.toml").write_text(
        f'provider = "tradingview"\nsymbols = {symbols}\n[timeframes.1h]\n'
    )
    conf = {"start": START.isoformat(), "end": END.isoformat()}
    dags_test(airflow_bin, env, "ohlcv_1h", "2024-03-06T12:00:00+00:00", conf)
    market = calendars.Market.of("NASDAQ:AAPL", session="extended")
    extended = len(calendars.expected(market, Timeframe.parse("1h"), START, END, END))
    assert extended == 16 + 15  # 4 March whole; 5 March less its 19:00-20:00 New York bar
    assert _series_counts(db, 0) == {
        ("NASDAQ:AAPL", "regular"): len(closed("NASDAQ:AAPL", START, END)),
        ("BINANCE:BTCUSDT", "regular"): len(closed("BINANCE:BTCUSDT", START, END)),
        ("NASDAQ:AAPL", "extended"): extended,
    }

    # session=extended: every chunk loads extended series; the crypto pair has none (skipped)
    dags_test(
        airflow_bin, env, "ohlcv_1h", "2024-03-06T13:00:00+00:00", {**conf, "session": "extended"}
    )
    assert _series_counts(db, 1) == {("NASDAQ:AAPL", "extended"): 0}
