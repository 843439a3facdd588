"""History in any order: tick files imported out of order, with rollups between, give the same
bars as one import in order, and the real trades equal the real 1m bars exactly.

Before, a tick older than the rollup watermark minus a day was rejected as ``late``: the
newest third of the XRP/ETH trades imported first made about 5,200 of the rest "late".
"""

from __future__ import annotations

import pandas as pd
import pytest

from candleflow.db.instruments import ensure_instrument
from candleflow.domain import Instrument
from candleflow.managers import BarManager
from candleflow.services.ticks.imports import import_ticks, read_tick_file
from tests.support.shared_data import shared_data

pytestmark = pytest.mark.timeout(300)
COLUMNS = ["ts", "open", "high", "low", "close", "volume"]


def _bars(db, symbol: str, timeframe: str) -> pd.DataFrame:
    with db.cursor() as cur:
        cur.execute(
            "SELECT b.ts, open, high, low, close, volume FROM candleflow.bars b"
            " JOIN candleflow.instruments i ON i.id = b.instrument_id"
            " WHERE i.symbol = %s AND timeframe = %s AND source = 'rollup' ORDER BY ts",
            (symbol, timeframe),
        )
        frame = pd.DataFrame(cur.fetchall(), columns=COLUMNS)
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame


def _write_parts(frame: pd.DataFrame, parts: int, folder) -> list:
    """``frame`` (sorted by ts) cut into ``parts`` canonical CSV files by time: all ticks of a
    timestamp stay in one file (see docs/ticks.md: a file's ticks are keyed by their
    ordinal within their timestamp)."""
    cuts = [frame["ts"].iloc[len(frame) * k // parts] for k in range(1, parts)]
    bounds = [frame["ts"].min(), *cuts, frame["ts"].max() + pd.Timedelta(seconds=1)]
    paths = []
    for k in range(parts):
        part = frame[(frame["ts"] >= bounds[k]) & (frame["ts"] < bounds[k + 1])]
        path = folder / f"part{k}.csv"
        out = part.assign(ts=part["ts"].map(lambda t: t.isoformat()))
        out[["ts", "price", "size"]].to_csv(path, index=False)
        paths.append(path)
    return paths


@pytest.mark.parametrize("order", [(1, 2, 0), (2, 0, 1), (2, 1, 0)], ids=str)
def test_real_trades_in_shuffled_thirds_with_rollups_between_equal_the_real_1m_bars(
    db, tmp_path, order
):
    trades = read_tick_file(
        shared_data("freqtrade/XRP_ETH-trades.json.gz"), "freqtrade_trades_json"
    )
    oracle = pd.read_feather(shared_data("freqtrade/XRP_ETH-1m.feather"))
    paths = _write_parts(trades, 3, tmp_path)
    manager = BarManager(["1m", "5m", "1h", "1d"])
    received = rejected = 0
    for k in order:  # newest third first (2, ...), with a rollup after each part
        result = import_ticks(paths[k], "BINANCE:XRPETH", run_id=f"part{k}")
        received, rejected = received + result.received, rejected + result.rejected
        manager.rollup(db, run_id=f"after{k}")
    assert (received, rejected) == (12477, 0)

    bars = _bars(db, "BINANCE:XRPETH", "1m")
    assert len(bars) == len(oracle) == 2469
    assert (bars["ts"].to_numpy() == oracle["date"].dt.tz_convert("UTC").to_numpy()).all()
    for col in ("open", "high", "low", "close", "volume"):
        assert (bars[col].to_numpy() == oracle[col].to_numpy()).all(), col
    # the higher levels follow: 1h and 1d equal the 1m bars resampled
    minute = bars.set_index("ts")
    for tf, rule in (("1h", "1h"), ("1d", "1D")):
        expected = minute.resample(rule, label="left", closed="left").agg(
            {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
        )
        expected = expected.dropna(subset=["open"])
        got = _bars(db, "BINANCE:XRPETH", tf).set_index("ts")
        assert list(got.index) == list(expected.index), tf
        assert got[["open", "high", "low", "close"]].to_numpy().tolist() == (
            expected[["open", "high", "low", "close"]].to_numpy().tolist()
        )
        # the same trades summed in another order: equal up to the last bits
        assert got["volume"].to_numpy() == pytest.approx(expected["volume"].to_numpy(), rel=1e-12)


def test_a_day_of_lean_spy_ticks_imported_after_a_later_day_gives_the_same_bars(db, tmp_path):
    """The real SPY day (2013-10-07) and a later day (the same ticks a day on, 10-08):
    imported later-day first with a rollup between, and in order, the bars are the same."""
    day = shared_data("lean/tick/spy/20131007_trade.zip")
    later = read_tick_file(day, "lean_tick_trade")
    later = later.assign(ts=later["ts"] + pd.Timedelta(days=1))
    later_path = tmp_path / "20131008.csv"
    later.assign(ts=later["ts"].map(lambda t: t.isoformat()))[["ts", "price", "size"]].to_csv(
        later_path, index=False
    )
    manager = BarManager(["1m", "5m", "1h", "1d"])
    runs = {"ARCA:SPY": ("day", "later"), "AMEX:SPY": ("later", "day")}
    for symbol, sequence in runs.items():
        with db:
            ensure_instrument(
                db, Instrument(symbol, timezone="America/New_York", session="0930-1600")
            )
        for which in sequence:
            if which == "day":
                result = import_ticks(day, symbol, mapping="lean_tick_trade", run_id=which)
            else:
                result = import_ticks(later_path, symbol, run_id=which)
            assert result.rejected == 0 and result.inserted == result.received
            manager.rollup(db, run_id=f"{symbol}-{which}")
    for tf in ("1m", "5m", "1h", "1d"):
        in_order, later_first = _bars(db, "ARCA:SPY", tf), _bars(db, "AMEX:SPY", tf)
        assert len(in_order) > 0, tf
        pd.testing.assert_frame_equal(in_order, later_first, check_exact=False, rtol=1e-12)
    daily = _bars(db, "AMEX:SPY", "1d")
    assert list(daily["ts"]) == [
        pd.Timestamp("2013-10-07 13:30", tz="UTC"),
        pd.Timestamp("2013-10-08 13:30", tz="UTC"),
    ]
