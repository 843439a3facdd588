"""Hand-made bars for the read-side tests: instruments and bars written through the real
writers, a random walk of valid bars, session minutes, and the reference aggregation.

Expected values are computed independently in each test (plain pandas over the frames that
were loaded), never by the code under test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from candleflow.db import bars as bar_writer

NY = "America/New_York"


def add_instrument(db, symbol: str, timezone: str = "Etc/UTC", session: str = "24x7") -> int:
    exchange, ticker = symbol.split(":")
    with db, db.cursor() as cur:
        cur.execute(
            "INSERT INTO candleflow.instruments (symbol, exchange, ticker, timezone, session)"
            " VALUES (%s, %s, %s, %s, %s) RETURNING id",
            (symbol, exchange, ticker, timezone, session),
        )
        return cur.fetchone()[0]


def load(db, instrument_id: int, timeframe: str, frame: pd.DataFrame, source="provider"):
    with db:
        bar_writer.upsert_bars(db, instrument_id, timeframe, frame, run_id="test", source=source)


def make_bars(ts, seed: int = 1, base: float = 100.0) -> pd.DataFrame:
    """Valid OHLCV bars at ``ts`` (a random walk), volume as float."""
    ts = pd.DatetimeIndex(ts).astype("datetime64[us, UTC]")
    rng = np.random.default_rng(seed)
    close = base + np.cumsum(rng.normal(0, 0.5, len(ts)))
    open_ = np.concatenate([[base], close[:-1]])
    return pd.DataFrame(
        {
            "ts": ts,
            "open": open_,
            "high": np.maximum(open_, close) + rng.random(len(ts)),
            "low": np.minimum(open_, close) - rng.random(len(ts)),
            "close": close,
            "volume": rng.integers(1, 1000, len(ts)).astype("float64"),
        }
    )


def session_minutes(days: list[str]) -> pd.DatetimeIndex:
    """Every regular-session minute (09:30-16:00 New York) of the given days, in UTC."""
    pieces = [pd.date_range(f"{d} 09:30", f"{d} 15:59", freq="1min", tz=NY) for d in days]
    return pd.DatetimeIndex(np.concatenate(pieces)).tz_convert("UTC")


def ohlcv(frame: pd.DataFrame, keys) -> pd.DataFrame:
    """The reference aggregation, written out plainly."""
    g = frame.groupby(keys)
    return pd.DataFrame(
        {
            "open": g["open"].first(),
            "high": g["high"].max(),
            "low": g["low"].min(),
            "close": g["close"].last(),
            "volume": g["volume"].sum(min_count=1),
        }
    )
