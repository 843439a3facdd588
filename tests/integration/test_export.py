"""``candleflow export``: Hive-partitioned Parquet equal to ``query.bars``, read by three readers.

The oracle is ``candleflow.query.bars`` for the same window (what the export promises to
write); each reader (pandas, polars, DuckDB) reads the folder as one table on its own.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pytest

from candleflow import query
from candleflow.cli import run
from candleflow.db import bars as db_bars
from candleflow.query.export import export_parquet
from candleflow.testing import synthetic

SYMBOLS = ["BINANCE:BTCUSDT", "NASDAQ:AAPL"]
START, END = "2024-02-27", "2024-03-04 12:00"
COLUMNS = ["symbol", "ts", "open", "high", "low", "close", "volume", "source", "complete"]


@pytest.fixture
def warehouse(db, db_url):
    """Two symbols of 1m bars over a month end, one with a NULL volume."""
    for symbol, tz in (("BINANCE:BTCUSDT", "Etc/UTC"), ("NASDAQ:AAPL", "America/New_York")):
        exchange, ticker = symbol.split(":")
        with db, db.cursor() as cur:
            cur.execute(
                "INSERT INTO candleflow.instruments (symbol, exchange, ticker, timezone)"
                " VALUES (%s, %s, %s, %s) RETURNING id",
                (symbol, exchange, ticker, tz),
            )
            (iid,) = cur.fetchone()
        bars = synthetic.bars(symbol, "1m", "2024-02-20", "2024-03-10")
        bars.loc[5, "volume"] = np.nan
        with db:
            db_bars.upsert_bars(db, iid, "1m", bars, run_id="load")
    return db_url


def expected(timeframe: str = "1m", start: str = START, end: str = END) -> pd.DataFrame:
    frame = query.bars(SYMBOLS, timeframe, start, end)
    return frame[COLUMNS].sort_values(["symbol", "ts"], ignore_index=True)


def normalised(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.assign(symbol=frame["symbol"].astype(str))
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True).astype("datetime64[us, UTC]")
    return frame[COLUMNS].sort_values(["symbol", "ts"], ignore_index=True)


def test_the_files_equal_query_bars_in_pandas_polars_and_duckdb(warehouse, tmp_path):
    result = export_parquet(SYMBOLS, "1m", START, END, tmp_path, url=warehouse)
    want = expected()
    assert result.total == len(want) > 0
    months = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.parquet"))
    assert months == [
        f"symbol={s}/month={m}/1m.parquet" for s in sorted(SYMBOLS) for m in ("2024-02", "2024-03")
    ]

    by_pandas = pd.read_parquet(tmp_path)
    assert set(by_pandas["month"].astype(str)) == {"2024-02", "2024-03"}
    pd.testing.assert_frame_equal(normalised(by_pandas), want, check_exact=True)

    by_polars = pl.read_parquet(tmp_path / "**" / "*.parquet", hive_partitioning=True)
    pd.testing.assert_frame_equal(normalised(by_polars.to_pandas()), want, check_exact=True)

    glob = (tmp_path / "**" / "*.parquet").as_posix()
    by_duckdb = duckdb.execute(
        "SELECT * FROM read_parquet(?, hive_partitioning = true)", [glob]
    ).df()
    pd.testing.assert_frame_equal(normalised(by_duckdb), want, check_exact=True)


def test_a_rerun_and_a_partial_month_converge(warehouse, tmp_path):
    export_parquet(SYMBOLS, "1m", START, END, tmp_path, url=warehouse)
    files = {p: p.read_bytes() for p in tmp_path.rglob("*.parquet")}
    # the same export again, then a narrower one inside March: nothing changes
    export_parquet(SYMBOLS, "1m", START, END, tmp_path, url=warehouse)
    export_parquet(SYMBOLS, "1m", "2024-03-01", "2024-03-02", tmp_path, url=warehouse)
    assert normalised(pd.read_parquet(tmp_path)).equals(expected())
    assert set(tmp_path.rglob("*.parquet")) == set(files)


def test_a_resampled_timeframe_is_exported_whole(warehouse, tmp_path):
    export_parquet(SYMBOLS, "1w", "2024-02-19", "2024-03-11", tmp_path, url=warehouse)
    want = expected("1w", "2024-02-19", "2024-03-11")
    assert len(want) == 2 * 3  # three weeks of each symbol
    assert normalised(pd.read_parquet(tmp_path)).equals(want)


def test_the_cli_exports_and_refuses_bad_input(warehouse, tmp_path, capsys):
    out = tmp_path / "lake"
    assert (
        run(["export", *SYMBOLS, "-t", "1h", "--start", START, "--end", END, "--out", str(out)])
        == 0
    )
    assert "exported" in capsys.readouterr().out
    assert normalised(pd.read_parquet(out)).equals(expected("1h"))

    assert (
        run(["export", "NASDAQ:NOPE", "-t", "1h", "--start", START, "--end", END, "-o", str(out)])
        == 2
    )
    assert "unknown symbol(s) NASDAQ:NOPE" in capsys.readouterr().err
    assert run(["export", "AAPL", "-t", "1h", "--start", START, "--end", END, "-o", str(out)]) == 2
    assert (
        run(["export", *SYMBOLS, "-t", "7m", "--start", START, "--end", END, "-o", str(out)]) == 2
    )
    assert (
        run(["export", *SYMBOLS, "-t", "1h", "--start", END, "--end", START, "-o", str(out)]) == 2
    )


def test_the_dag_task_exports_its_data_interval_for_every_active_symbol(warehouse, tmp_path):
    import datetime as dt

    from candleflow.query.export import scheduled_export

    day = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    done = scheduled_export({"out": str(tmp_path)}, day, day + dt.timedelta(days=1), url=warehouse)
    assert done["symbols"] == 2 and done["files"] == 2
    want = expected("1m", "2024-03-01", "2024-03-02")
    assert done["bars"] == len(want)
    assert normalised(pd.read_parquet(tmp_path)).equals(want)
