"""``ohlcv_1h`` end to end with ``airflow dags test``: the replay server as the provider, the
embedded PostgreSQL as the warehouse, three instruments, a window given through params.

Also checks the data interval a scheduled-style run gets: exactly the settled hour.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess

import pandas as pd
import pytest

from candleflow.testing import ReplayServer, synthetic

SYMBOLS = ("NASDAQ:AAPL", "BINANCE:BTCUSDT", "SP:SPX")
START = dt.datetime(2024, 3, 4, tzinfo=dt.UTC)
END = dt.datetime(2024, 3, 6, tzinfo=dt.UTC)

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def dag_env(airflow_env, db_url, tmp_path):
    watchlist = tmp_path / "watchlist.toml"
    watchlist.write_text(
        f'provider = "tradingview"\nsymbols = {json.dumps(list(SYMBOLS))}\n[timeframes.1h]\n'
    )
    with ReplayServer(seed=5) as srv:
        yield dict(
            airflow_env,
            CANDLEFLOW_WATCHLIST=str(watchlist),
            CANDLEFLOW_TRADINGVIEW_URL=srv.url,
            CANDLEFLOW_DATABASE_URL=db_url,
        )


def dags_test(airflow_bin, env, logical_date: str, conf: dict | None = None):
    args = [airflow_bin, "dags", "test", "ohlcv_1h", logical_date]
    if conf:
        args += ["--conf", json.dumps(conf)]
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=500)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "state=success" in result.stdout + result.stderr


def test_window_loads_exactly_the_served_bars_and_a_rerun_changes_nothing(dag_env, airflow_bin, db):
    conf = {"start": START.isoformat(), "end": END.isoformat()}
    dags_test(airflow_bin, dag_env, "2024-03-06T12:00:00+00:00", conf)
    with db.cursor() as cur:
        for symbol in SYMBOLS:
            cur.execute(
                "SELECT ts, open, high, low, close, volume FROM candleflow.bars b JOIN"
                " candleflow.instruments i ON i.id = b.instrument_id WHERE i.symbol = %s"
                " AND timeframe = '1h' ORDER BY ts",
                (symbol,),
            )
            got = pd.DataFrame(
                cur.fetchall(), columns=["ts", "open", "high", "low", "close", "volume"]
            )
            got["ts"] = pd.to_datetime(got["ts"], utc=True).dt.as_unit("us")
            got = got.astype({c: "float64" for c in ("open", "high", "low", "close", "volume")})
            expected = synthetic.bars(symbol, "1h", START, END, seed=5).reset_index(drop=True)
            assert len(expected) > 10
            pd.testing.assert_frame_equal(got, expected, check_exact=True)

    dags_test(airflow_bin, dag_env, "2024-03-06T13:00:00+00:00", conf)
    with db.cursor() as cur:
        cur.execute(
            "SELECT count(*), sum(rows_inserted), sum(rows_updated), min(outcome), max(outcome)"
            " FROM candleflow.load_audit GROUP BY run_id ORDER BY min(id)"
        )
        first, second = cur.fetchall()
    assert first[0] == second[0] == 3
    assert first[1] > 0
    assert (second[1], second[2], second[3], second[4]) == (0, 0, "success", "success")


def test_a_run_loads_its_settled_data_interval(dag_env, airflow_bin, db):
    dags_test(airflow_bin, dag_env, "2024-03-05T16:00:00+00:00")
    with db.cursor() as cur:
        cur.execute("SELECT DISTINCT window_start, window_end FROM candleflow.load_audit")
        windows = cur.fetchall()
    # At 16:00 with 1h30s to settle: [14:00, 15:00) may start only at 16:00:30, so the
    # newest settled hour is [13:00, 14:00).
    assert windows == [
        (dt.datetime(2024, 3, 5, 13, tzinfo=dt.UTC), dt.datetime(2024, 3, 5, 14, tzinfo=dt.UTC))
    ]
