"""Compressed segments of closed bars against a real PostgreSQL: exact round trips, rewrites.

The oracle is always the plain rows of ``candleflow.bars`` read with plain SQL (what the
bar writer stored), compared bit for bit with what the segment gives back, through the
Python decoder and through the SQL view ``candleflow.compressed_bars`` alike.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from candleflow.db import bars as db_bars
from candleflow.db import compress
from candleflow.providers.files import read_bars
from candleflow.query import pool as query_pool
from candleflow.query.compressed import read_compressed
from candleflow.testing import synthetic
from tests.support.shared_data import shared_data

COLUMNS = ["ts", "open", "high", "low", "close", "volume", "filled", "loaded_at", "run_id"]
UTC = dt.UTC


def add_instrument(db, symbol: str, price_scale: int = 100) -> int:
    exchange, ticker = symbol.split(":")
    with db, db.cursor() as cur:
        cur.execute(
            "INSERT INTO candleflow.instruments (symbol, exchange, ticker, price_scale)"
            " VALUES (%s, %s, %s, %s) RETURNING id",
            (symbol, exchange, ticker, price_scale),
        )
        return cur.fetchone()[0]


def plain_rows(db, instrument_id: int, table: str = "candleflow.bars") -> pd.DataFrame:
    with db.cursor() as cur:
        cur.execute(
            f"SELECT {', '.join(COLUMNS)} FROM {table}"  # noqa: S608 - the two fixed names
            " WHERE instrument_id = %s ORDER BY ts",
            (instrument_id,),
        )
        frame = pd.DataFrame(cur.fetchall(), columns=COLUMNS)
    db.rollback()
    frame["volume"] = frame["volume"].astype(np.float64)
    for col in ("ts", "loaded_at"):
        frame[col] = pd.to_datetime(frame[col], utc=True).astype("datetime64[us, UTC]")
    return frame


def assert_identical(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """Same rows, every float bit for bit (NaN = NULL volume), provenance included."""
    assert len(got) == len(want)
    got = got.reset_index(drop=True)
    want = want.reset_index(drop=True)
    for col in ("ts", "loaded_at"):
        assert (got[col].astype("datetime64[us, UTC]") == want[col]).all(), col
    for col in ("open", "high", "low", "close", "volume"):
        a, b = got[col].to_numpy(np.float64), want[col].to_numpy(np.float64)
        assert np.array_equal(a.view(np.int64), b.view(np.int64)) or np.array_equal(
            a, b, equal_nan=True
        ), col
    assert got["filled"].astype(bool).tolist() == want["filled"].astype(bool).tolist()
    assert got["run_id"].tolist() == want["run_id"].tolist()


def load(db, instrument_id: int, frame: pd.DataFrame, run_id: str, tf: str = "1m") -> None:
    with db:
        db_bars.upsert_bars(db, instrument_id, tf, frame, run_id=run_id)


def compress_all(db, instrument_id: int, tf: str = "1m", **options) -> list:
    with db:
        keys = [k for k in compress.closed_segments(db, dt.datetime(2100, 1, 1, tzinfo=UTC), [tf])]
        keys = [k for k in keys if k.instrument_id == instrument_id]
        for key in keys:
            compress.compress_segment(db, key, **options)
    return keys


def _synthetic(symbol: str) -> pd.DataFrame:
    return synthetic.bars(symbol, "1m", "2024-02-20", "2024-03-10")


def _real(path: str, preset: str) -> pd.DataFrame:
    return read_bars(shared_data(path), preset, "1m")


def _adjusted() -> pd.DataFrame:
    """Split-adjusted prices: no decimal scale reproduces them, so prices go float."""
    bars = synthetic.bars("NASDAQ:ADJ", "1m", "2024-03-04", "2024-03-06")
    for col in ("open", "high", "low", "close"):
        bars[col] = bars[col] / 3.0
    bars.loc[::7, "volume"] = np.nan  # and some NULL volumes among integers
    return bars


SERIES = {
    "replay 24x7 (two months)": lambda: _synthetic("BINANCE:BTCUSDT"),
    "replay XNYS (sessions, gaps)": lambda: _synthetic("NASDAQ:AAPL"),
    "replay index (no volume)": lambda: _synthetic("TVC:DXY"),
    "adjusted prices, NULL volumes": _adjusted,
    "nautilus BTC-PERP (float volume artefacts)": lambda: _real(
        "nautilus/btc-perp-20211231-20220201_1m.csv", "nautilus_csv"
    ),
    "freqtrade XRP/ETH (8 decimals, gaps)": lambda: _real(
        "freqtrade/XRP_ETH-1m.feather", "freqtrade_feather"
    ),
    "Lean SPY minute": lambda: _real("lean/minute/spy/20131007_trade.zip", "lean_minute"),
    "nautilus 6E futures": lambda: _real(
        "nautilus/6EH4.XCME_1min_bars_20240101_20240131.csv.gz", "nautilus_csv"
    ),
}


@pytest.mark.parametrize("name", list(SERIES))
def test_compressed_months_read_back_value_for_value(db, db_url, name):
    bars = SERIES[name]()
    series = add_instrument(db, "TEST:S")
    half = len(bars) // 2  # two loads: provenance differs within a segment
    load(db, series, bars.iloc[:half], "run-a")
    load(db, series, bars.iloc[half:], "run-b")
    stored = plain_rows(db, series)
    keys = compress_all(db, series)
    assert keys, "nothing compressed"

    decoded = pd.concat([compress.read_segment(db, k) for k in keys], ignore_index=True)
    assert_identical(decoded, stored)
    assert_identical(plain_rows(db, series, "candleflow.compressed_bars"), stored)

    # the read path's decoder (ADBC + numpy), over a window that cuts the first segment
    cut = stored["ts"].iloc[len(stored) // 3].to_pydatetime()
    end = dt.datetime(2100, 1, 1, tzinfo=UTC)
    table = query_pool.POOL.run(
        query_pool.resolve(db_url),
        lambda cur: read_compressed(cur, series, "1m", "provider", cut, end),
    )
    tail = stored[stored["ts"] >= cut].reset_index(drop=True)
    read = table.to_pandas()
    assert (read["ts"] == tail["ts"]).all()
    for col in ("open", "high", "low", "close", "volume"):
        assert np.array_equal(read[col], tail[col], equal_nan=True), col


def test_integers_only_where_they_round_trip(db):
    series = add_instrument(db, "TEST:MIX")
    load(db, series, _synthetic("BINANCE:BTCUSDT"), "r")
    load(db, series, _adjusted().assign(ts=lambda f: f.ts + pd.Timedelta(days=400)), "r")
    compress_all(db, series)
    with db.cursor() as cur:
        cur.execute(
            "SELECT segment_start, price_scale, volume_scale, volume_float IS NOT NULL"
            " FROM candleflow.bar_segments WHERE instrument_id = %s ORDER BY 1",
            (series,),
        )
        rows = cur.fetchall()
    assert [r[1:] for r in rows] == [(100, 10_000, False)] * 2 + [(None, 1, False)]


def test_a_correction_rewrites_its_segment_and_a_rerun_changes_nothing(db):
    series = add_instrument(db, "TEST:FIX")
    bars = _synthetic("BINANCE:BTCUSDT").iloc[:3000]
    load(db, series, bars, "first")
    (key,) = compress_all(db, series, remove_rows=True)
    assert plain_rows(db, series).empty

    fix = bars.iloc[[10, 11]].copy()
    fix.loc[fix.index[0], "close"] = fix["close"].iloc[0] + 0.01  # a corrected close
    fix.loc[fix.index[0], "high"] = max(fix["high"].iloc[0], fix["close"].iloc[0])
    late = bars.iloc[[-1]].assign(ts=bars["ts"].iloc[-1] + pd.Timedelta(minutes=5))
    offered = pd.concat([fix, late])
    with db:
        counts = compress.merge_segment(db, key, offered, run_id="fix")
    assert counts == (1, 1, 1)

    after = compress.read_segment(db, key)
    expected = pd.concat([bars, late]).reset_index(drop=True)
    expected.loc[10, ["close", "high"]] = fix.iloc[0][["close", "high"]].to_numpy()
    for col in ("ts", "open", "high", "low", "close", "volume"):
        assert after[col].tolist() == expected[col].tolist(), col
    assert after["run_id"].iloc[10] == "fix" and after["run_id"].iloc[-1] == "fix"
    assert set(after["run_id"].drop([10, len(after) - 1])) == {"first"}

    with db.cursor() as cur:
        cur.execute("SELECT compressed_at FROM candleflow.bar_segments")
        before = cur.fetchall()
    with db:
        again = compress.merge_segment(db, key, offered, run_id="rerun")
    assert again == (0, 0, 3)
    with db.cursor() as cur:
        cur.execute("SELECT compressed_at FROM candleflow.bar_segments")
        assert cur.fetchall() == before  # not rewritten
    assert_identical(compress.read_segment(db, key), after)


def test_a_readjustment_into_a_compressed_month_goes_float_and_stays_exact(db):
    series = add_instrument(db, "TEST:SPLIT")
    bars = _synthetic("NASDAQ:AAPL").iloc[:2000]
    load(db, series, bars, "raw")
    (key,) = compress_all(db, series, remove_rows=True)
    adjusted = bars.assign(**{c: bars[c] / 7.0 for c in ("open", "high", "low", "close")})
    with db:
        assert compress.merge_segment(db, key, adjusted, run_id="adj") == (0, len(bars), 0)
    back = compress.read_segment(db, key)
    for col in ("open", "high", "low", "close"):
        assert back[col].tolist() == adjusted[col].tolist()
    with db.cursor() as cur:
        cur.execute("SELECT price_scale FROM candleflow.bar_segments")
        assert cur.fetchone() == (None,)


def test_rewriting_a_segment_bumps_its_series_version(db):
    series = add_instrument(db, "TEST:VER")
    bars = _synthetic("BINANCE:BTCUSDT").iloc[:100]
    load(db, series, bars, "a")
    (key,) = compress_all(db, series, remove_rows=True)

    def version() -> int:
        with db.cursor() as cur:
            cur.execute(
                "SELECT sum(version) FROM candleflow.series_versions WHERE instrument_id = %s",
                (series,),
            )
            return cur.fetchone()[0]

    before = version()
    with db:
        compress.merge_segment(
            db,
            key,
            bars.iloc[:1].assign(close=bars["close"].iloc[0] * 2, high=bars["close"].iloc[0] * 2),
            run_id="b",
        )
    assert version() > before
