"""What the soak checks in the warehouse, against the replay server's own record.

- **Bars**: for each OHLCV DAG and run type, every bar that closed in the span its successful
  runs cover (first interval start to last interval end: a skipped or failed interval is a
  hole, not a gap in the check) equals ``synthetic.bars``; lost = missing, dup = a key stored twice,
  wrong = other values or a bar the oracle does not have.
- **Ticks**: every trade the ``market`` peer made (and each market's opening snapshot) is
  stored exactly once with its time, price and day volume; nothing else is stored. Their 1m
  roll-up equals the trades grouped by minute, checked on the 24x7 symbols (equity ticks
  outside sessions stay ticks by design).
- **Audit**: ``load_audit``'s ``rows_inserted`` of successful loads sums to the provider
  bars stored, per symbol and timeframe.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import psycopg2

from candleflow.domain import Timeframe
from candleflow.testing import catalogue, synthetic

OHLC = ["open", "high", "low", "close"]


@dataclasses.dataclass(slots=True)
class Count:
    checked: int = 0
    lost: int = 0
    dup: int = 0
    wrong: int = 0

    def add(self, other: Count) -> None:
        for f in dataclasses.fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


def _ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_convert("UTC")


def spans(runs: list[dict]) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Per run type (scheduled, backfill): (first interval start, last interval end) of its
    successful runs. One span per type, so a scheduled interval that never ran is a hole."""
    out = []
    for kind in ("scheduled", "backfill"):
        done = [
            r
            for r in runs
            if r["state"] == "success" and r["run_type"] == kind and r.get("data_interval_start")
        ]
        if done:
            out.append(
                (
                    min(_ts(r["data_interval_start"]) for r in done),
                    max(_ts(r["data_interval_end"]) for r in done),
                )
            )
    return out


def _query(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def _compare(expected: pd.DataFrame, stored: pd.DataFrame, keys: list[str], values) -> Count:
    """Lost, duplicated and wrong rows of ``stored`` against ``expected`` (equal keys)."""
    count = Count(checked=len(expected))
    count.dup = int(stored.duplicated(keys).sum())
    stored = stored.drop_duplicates(keys)
    both = expected.merge(stored, on=keys, how="outer", suffixes=("", "_got"), indicator=True)
    count.lost = int((both["_merge"] == "left_only").sum())
    extra = int((both["_merge"] == "right_only").sum())
    matched = both[both["_merge"] == "both"]
    differs = pd.Series(False, index=matched.index)
    for column in values:  # 1e-9 relative: volumes of roll-ups are float sums
        want, got = matched[column].astype(float), matched[f"{column}_got"].astype(float)
        differs |= ~(np.isclose(want, got, rtol=1e-9, atol=1e-9) | (want.isna() & got.isna()))
    count.wrong = extra + int(differs.sum())
    return count


def bars(url: str, symbols: list[str], tf: str, window, *, seed: int) -> Count:
    """Provider bars of ``tf`` that closed in ``(start, end]`` against the oracle."""
    start, end = window
    step = Timeframe.parse(tf).delta
    frames = []
    for symbol in symbols:
        want = synthetic.bars(symbol, tf, start - step, end, seed=seed)
        closes = want["ts"] + step
        frames.append(want[(closes > start) & (closes <= end)].assign(symbol=symbol))
    expected = pd.concat(frames, ignore_index=True)[["symbol", "ts", *OHLC, "volume"]]
    rows = _query(
        url,
        "SELECT i.symbol, b.ts, b.open, b.high, b.low, b.close, b.volume FROM candleflow.bar_rows b"
        " JOIN candleflow.instruments i ON i.id = b.instrument_id WHERE b.timeframe = %s"
        " AND b.source = 'provider' AND b.ts + %s > %s AND b.ts + %s <= %s",
        (tf, step, start.to_pydatetime(), step, end.to_pydatetime()),
    )
    stored = pd.DataFrame(rows, columns=expected.columns)
    stored["ts"] = pd.to_datetime(stored["ts"], utc=True)
    expected["ts"] = pd.to_datetime(expected["ts"], utc=True)
    return _compare(expected, stored, ["symbol", "ts"], [*OHLC, "volume"])


def _trades(markets: dict) -> pd.DataFrame:
    """Every tick the market peer sent: each market's opening snapshot and its trades."""
    frames = []
    for key, market in markets.items():
        rows = [market.opening, *market.trades]
        frame = pd.DataFrame(rows, columns=["t", "price", "day_volume"])
        frames.append(frame.assign(symbol=catalogue.symbol_from_key(key)))
    if not frames:
        return pd.DataFrame(columns=["symbol", "t", "price", "day_volume"])
    out = pd.concat(frames, ignore_index=True)
    out["t"] = out["t"].astype(float).round(6)
    return out


def ticks(url: str, markets: dict) -> Count:
    """Stored ticks against every tick the peer sent: each once, nothing else."""
    expected = _trades(markets)
    rows = _query(
        url,
        "SELECT i.symbol, extract(epoch FROM t.ts)::float8, t.price, t.day_volume"
        " FROM candleflow.ticks t JOIN candleflow.instruments i ON i.id = t.instrument_id",
    )
    stored = pd.DataFrame(rows, columns=["symbol", "t", "price", "day_volume"])
    stored["t"] = stored["t"].astype(float).round(6)
    # lp_time has whole seconds: trades of one second differ by their cumulative volume
    return _compare(expected, stored, ["symbol", "t", "day_volume"], ["price"])


def rollup(url: str, markets: dict, symbols: list[str]) -> Count:
    """1m bars rolled up from the ticks of ``symbols`` against the trades by minute."""
    from candleflow.managers import BarManager

    trades = _trades(markets)
    trades = trades[trades["symbol"].isin(symbols)].sort_values(["symbol", "t"])
    trades["traded"] = trades.groupby("symbol")["day_volume"].diff().fillna(0.0)
    trades["ts"] = pd.to_datetime(trades["t"] // 60 * 60, unit="s", utc=True)
    by = trades.groupby(["symbol", "ts"])
    expected = pd.DataFrame(
        {
            "open": by["price"].first(),
            "high": by["price"].max(),
            "low": by["price"].min(),
            "close": by["price"].last(),
            "volume": by["traded"].sum(),
        }
    ).reset_index()
    conn = psycopg2.connect(url)
    try:
        BarManager(["1m"]).rollup(conn, run_id="soak-check", now=dt.datetime.now(dt.UTC))
        conn.commit()
    finally:
        conn.close()
    rows = _query(
        url,
        "SELECT i.symbol, b.ts, b.open, b.high, b.low, b.close, b.volume FROM candleflow.bar_rows b"
        " JOIN candleflow.instruments i ON i.id = b.instrument_id WHERE b.timeframe = '1m'"
        " AND b.source = 'rollup' AND i.symbol = ANY(%s)",
        (symbols,),
    )
    stored = pd.DataFrame(rows, columns=expected.columns)
    stored["ts"] = pd.to_datetime(stored["ts"], utc=True)
    # the last minute of each symbol may still be forming: left out on both sides
    cutoff = expected.groupby("symbol")["ts"].max().rename("cutoff").reset_index()
    expected = expected.merge(cutoff, on="symbol")
    expected = expected[expected["ts"] < expected["cutoff"]].drop(columns="cutoff")
    stored = stored.merge(cutoff, on="symbol")
    stored = stored[stored["ts"] < stored["cutoff"]].drop(columns="cutoff")
    return _compare(expected, stored, ["symbol", "ts"], [*OHLC, "volume"])


def audit_mismatches(url: str) -> list[tuple]:
    """(symbol, timeframe, audited inserts, provider bars) wherever the two differ."""
    return _query(
        url,
        "WITH a AS (SELECT instrument_id, timeframe, sum(rows_inserted) AS n"
        " FROM candleflow.load_audit WHERE outcome = 'success' GROUP BY 1, 2),"
        " b AS (SELECT instrument_id, timeframe, count(*) AS n FROM candleflow.bar_rows"
        " WHERE source = 'provider' GROUP BY 1, 2)"
        " SELECT i.symbol, coalesce(a.timeframe, b.timeframe), coalesce(a.n, 0), coalesce(b.n, 0)"
        " FROM a FULL JOIN b USING (instrument_id, timeframe)"
        " JOIN candleflow.instruments i ON i.id = coalesce(a.instrument_id, b.instrument_id)"
        " WHERE coalesce(a.n, 0) <> coalesce(b.n, 0)",
    )
