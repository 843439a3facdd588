"""Resample-on-read and gap filling for one symbol's bars (pandas, sorted by ts).

Why here and not in SQL: session-anchored grids need the exchange calendar (early closes,
holidays), which lives in ``exchange_calendars``, not in PostgreSQL. The rules are in the
``candleflow.query`` docstring; the session vocabulary in ``candleflow.query.sessions``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from candleflow.calendars import Market, expected, intraday_grid, period_keys, schedule
from candleflow.domain import PRICE_COLUMNS, Timeframe
from candleflow.query.sessions import anchors
from candleflow.query.sessions import session_dates as _session_dates

DAY = Timeframe.parse("1d")
MINUTE = Timeframe.parse("1m")


def _aligned(values, frame: pd.DataFrame) -> pd.Series:
    """``values`` as a Series on ``frame``'s index (without a round trip through objects)."""
    if isinstance(values, pd.Series):
        return values.set_axis(frame.index)
    return pd.Series(values, index=frame.index)


def _aggregate(
    frame: pd.DataFrame, keys: pd.Series, stamps: pd.Series, need: pd.Series, on_grid: pd.Series
) -> pd.DataFrame:
    """OHLCV of each group of consecutive bars: first open, max high, min low, last close,
    summed volume (NULL when every bar's volume is NULL); ``source`` is ``rollup`` when any
    bar of the group came from the BarManager, else ``provider``.

    ``complete``: every bar of the group is complete, and the group holds every bar its
    interval should have: ``need`` (per key) counts the expected finer bars, ``on_grid``
    marks the bars that are one of them.
    """
    keys, stamps = _aligned(keys, frame), _aligned(stamps, frame)
    groups = frame.groupby(keys, sort=False)
    rollup = frame["source"].eq("rollup").groupby(keys, sort=False).any()
    have = _aligned(on_grid, frame).astype("int64").groupby(keys, sort=False).sum()
    members = frame["complete"].astype(bool).groupby(keys, sort=False).all()
    needed = need.reindex(have.index).fillna(0).to_numpy()
    out = pd.DataFrame(
        {
            "ts": stamps.groupby(keys, sort=False).first(),
            "open": groups["open"].first(),
            "high": groups["high"].max(),
            "low": groups["low"].min(),
            "close": groups["close"].last(),
            "volume": groups["volume"].sum(min_count=1),
            "source": np.where(rollup.to_numpy(), "rollup", "provider"),
            "complete": members.to_numpy() & (needed > 0) & (have.to_numpy() >= needed),
        }
    )
    return out.reset_index(drop=True).astype({"ts": "datetime64[us, UTC]"})


def _buckets(ts: pd.Series, market: Market, step: pd.Timedelta) -> pd.Series:
    """The start of the intraday bucket of each ts, counted from its session's anchor."""
    anchor = anchors(ts, market)
    return anchor + ((ts - anchor) // step) * step


def _intraday(frame: pd.DataFrame, market: Market, source_tf: Timeframe, step: pd.Timedelta):
    buckets = _buckets(frame["ts"], market, step)
    grid = intraday_grid(market, source_tf, buckets.min(), buckets.max() + step)
    need = _buckets(pd.Series(grid), market, step).value_counts() if len(grid) else pd.Series()
    return _aggregate(frame, buckets, buckets, need, frame["ts"].isin(grid))


def to_sessions(frame: pd.DataFrame, market: Market, source_tf: Timeframe) -> pd.DataFrame:
    """One daily bar per session, stamped at the session open (24x7: the UTC day); complete
    when it has every ``source_tf`` bar of its session (early closes included)."""
    dates = _session_dates(frame["ts"], market, MINUTE)
    sched = schedule(market, frame["ts"].min(), frame["ts"].max() + pd.Timedelta(days=1))
    stamps = dates.map(sched["open"])
    first_ts = frame.groupby(dates, sort=False)["ts"].transform("first")
    need, grid = pd.Series(), pd.DatetimeIndex([], tz="UTC")
    if not sched.empty:
        grid = intraday_grid(market, source_tf, sched["open"].min(), sched["close"].max())
        need = _session_dates(pd.Series(grid), market, MINUTE).value_counts()
    return _aggregate(frame, dates, stamps.fillna(first_ts), need, frame["ts"].isin(grid))


def _periods(frame: pd.DataFrame, market: Market, tf: Timeframe) -> pd.DataFrame:
    """Daily bars into weeks or months; complete when every session of the period is."""
    dates = _session_dates(frame["ts"], market, DAY)
    margin = pd.Timedelta(days=35)  # whole weeks and months around the data
    sched = schedule(market, frame["ts"].min() - margin, frame["ts"].max() + margin)
    sessions = pd.Series(sched.index)
    need = period_keys(sessions, tf).value_counts() if len(sessions) else pd.Series()
    keys = period_keys(dates, tf)
    return _aggregate(frame, keys, frame["ts"], need, dates.isin(sched.index))


def resample(
    frame: pd.DataFrame, market: Market, source_tf: Timeframe, target_tf: Timeframe
) -> pd.DataFrame:
    """``frame`` (bars of ``source_tf``) as bars of the coarser ``target_tf``, each with
    ``complete`` judged against the exchange session (see the ``candleflow.query`` docstring)."""
    if frame.empty:
        return frame
    if target_tf.intraday:
        return _intraday(frame, market, source_tf, pd.Timedelta(minutes=target_tf.minutes or 0))
    if source_tf.intraday:
        frame = to_sessions(frame, market, source_tf)
    if target_tf == DAY:
        return frame
    return _periods(frame, market, target_tf)


def bar_keys(frame: pd.DataFrame, market: Market, tf: Timeframe) -> pd.Series:
    """What identifies a bar on the expected grid: ts (intraday) or its session period."""
    if tf.intraday:
        return frame["ts"]
    return period_keys(_session_dates(frame["ts"], market, DAY), tf)


def fill(frame: pd.DataFrame, market: Market, tf: Timeframe, mode: str) -> pd.DataFrame:
    """Add a bar for each expected interval missing between the first and last bar.

    ``flat``: open = high = low = close = the previous close, volume 0 (no trade happened).
    ``ffill``: open, high, low and close repeat the previous bar's, volume NULL (unknown).
    Filled bars have ``source = 'fill'`` and ``complete = False`` (no bar was built from
    data); nothing is added before the first or after the last stored bar (no bar is
    invented for a window not loaded yet).
    """
    if frame.empty:
        return frame
    first, last = frame["ts"].iloc[0], frame["ts"].iloc[-1]
    grid = expected(
        market, tf, first, tf.bar_end(last.to_pydatetime()), now=pd.Timestamp.max.tz_localize("UTC")
    )
    missing = grid[~grid["key"].isin(set(bar_keys(frame, market, tf)))]
    if missing.empty:
        return frame
    stamps = missing["start"]
    if not tf.intraday and (frame["ts"] == frame["ts"].dt.floor("D")).all():
        stamps = stamps.dt.floor("D")  # the provider stamps daily bars at UTC midnight
    added = pd.DataFrame(
        {"ts": stamps.astype("datetime64[us, UTC]").to_numpy(), "source": "fill", "complete": False}
    )
    out = pd.concat([frame, added], ignore_index=True).sort_values("ts", kind="stable")
    out = out[(out["ts"] > first) | (out["source"] != "fill")].reset_index(drop=True)
    is_fill = out["source"].eq("fill")
    if mode == "flat":
        previous_close = out["close"].ffill()
        for column in PRICE_COLUMNS:
            out[column] = out[column].where(~is_fill, previous_close)
        out["volume"] = out["volume"].where(~is_fill, 0.0)
    else:
        out[list(PRICE_COLUMNS)] = out[list(PRICE_COLUMNS)].ffill()
    return out
