"""The oracle and the warehouse side by side: the bars the replay server serves that a run
must load, and the bars the warehouse holds, in the same shape for ``assert_frame_equal``.

The DAGs' rule, written out: a run of the interval (lo, hi] loads the bars whose end
``ts + timeframe`` is in (lo, hi].
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from candleflow.domain import BAR_COLUMNS, Timeframe
from candleflow.testing import synthetic


def closed_bars(
    symbol: str, lo: dt.datetime, hi: dt.datetime, seed: int, timeframe: str = "1h"
) -> pd.DataFrame:
    """The replay server's bars of ``symbol`` (its ``seed``) that closed in (lo, hi]."""
    step = pd.Timedelta(Timeframe.parse(timeframe).delta)
    bars = synthetic.bars(symbol, timeframe, lo - step, hi, seed=seed)
    ends = bars["ts"] + step
    return bars[(ends > lo) & (ends <= hi)].reset_index(drop=True)


def stored_bars(db, symbol: str, timeframe: str = "1h") -> pd.DataFrame:
    """The warehouse's bars of ``symbol`` as ``closed_bars`` gives them (UTC us, float64)."""
    with db.cursor() as cur:
        cur.execute(
            "SELECT ts, open, high, low, close, volume FROM candleflow.bars b JOIN"
            " candleflow.instruments i ON i.id = b.instrument_id WHERE i.symbol = %s"
            " AND timeframe = %s ORDER BY ts",
            (symbol, timeframe),
        )
        got = pd.DataFrame(cur.fetchall(), columns=list(BAR_COLUMNS))
    got["ts"] = pd.to_datetime(got["ts"], utc=True).dt.as_unit("us")
    return got.astype({c: "float64" for c in BAR_COLUMNS[1:]})


def crypto_instrument(db, symbol: str = "BINANCE:BTCUSDT") -> int:
    """A 24x7 instrument with a price scale of 100 (cents), written as its resolve would."""
    exchange, ticker = symbol.split(":")
    with db, db.cursor() as cur:
        cur.execute(
            "INSERT INTO candleflow.instruments (symbol, exchange, ticker, session, timezone,"
            " price_scale) VALUES (%s, %s, %s, '24x7', 'UTC', 100) RETURNING id",
            (symbol, exchange, ticker),
        )
        return cur.fetchone()[0]
