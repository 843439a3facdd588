"""Corporate actions from vendor files: LEAN factor files, zipline csvdir, Quandl WIKI.

Each reader returns the one action frame (``candleflow.adjustments.action_frame``), in the
raw prices of each ex-date, whatever the vendor's own convention:

- ``lean_factor``: QuantConnect's ``factor_files/<ticker>.csv``, rows
  ``YYYYMMDD,price_factor,split_factor,reference_price`` whose factors hold for the dates up
  to the row's date. Where they change between two rows an action's ex-date is the next
  session after the first row: a split of ``split_factor[i+1] / split_factor[i]`` (snapped
  to its simple fraction: the file rounds to 7 digits), a dividend with LEAN's own factor
  ``price_factor[i] / price_factor[i+1]`` and reference price (the row's close). Applying
  them gives LEAN's factors back, cumulative from the newest.
- ``zipline``: zipline's csvdir ``date,open,high,low,close,volume,dividend,split``. Its
  prices (and dividends) are already split-adjusted as of the file's end, yet the split is
  recorded: the dividends and reference closes are scaled back to raw here (times the later
  splits' ratios), so applying the split to raw bars adjusts once, not twice.
- ``quandl``: the WIKI prices table (``ticker,date,...,ex-dividend,split_ratio,adj_*``),
  raw, several tickers per file: the rows of the symbol's ticker.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from candleflow.adjustments import ACTION_PRESETS, action_frame, snap_ratio
from candleflow.calendars import Market, get_calendar
from candleflow.domain import split_symbol
from candleflow.errors import BadInputError
from candleflow.providers.files.formats import load_bytes

log = logging.getLogger(__name__)


def detect_actions_preset(path: Path) -> str:
    """The preset of an action file, from its first line; ``BadInputError`` when unknown."""
    data, source, _ = load_bytes(path)
    first = data[:4096].decode("utf-8", errors="replace").splitlines()[:1]
    header = {h.strip().lower() for h in first[0].split(",")} if first else set()
    if {"ex-dividend", "split_ratio"} <= header:
        return "quandl"
    if {"dividend", "split", "close"} <= header:
        return "zipline"
    fields = first[0].split(",") if first else []
    if len(fields) == 4 and len(fields[0]) == 8 and fields[0].isdigit():
        return "lean_factor"
    raise BadInputError(
        f"{source}: cannot detect the corporate-action layout; pass --preset, one of "
        f"{', '.join(ACTION_PRESETS)}"
    )


def read_actions(path: str | Path, symbol: str, preset: str | None = None) -> pd.DataFrame:
    """The actions of ``symbol`` in ``path`` (the preset detected when not given)."""
    path = Path(path)
    name = preset or detect_actions_preset(path)
    readers = {"lean_factor": _lean_factor, "zipline": _zipline, "quandl": _quandl}
    if name not in readers:
        raise BadInputError(
            f"unknown action preset {name!r}; expected one of {', '.join(ACTION_PRESETS)}"
        )
    data, source, _ = load_bytes(path)
    try:
        frame = readers[name](data, source, symbol)
    except (KeyError, ValueError, IndexError) as exc:
        raise BadInputError(f"{source}: not a {name} file ({exc})") from exc
    log.info("read %s: %d actions of %s (%s)", source, len(frame), symbol, name)
    return frame


def _csv(data: bytes, **options) -> pd.DataFrame:
    import io

    return pd.read_csv(io.BytesIO(data), **options)


def _next_session(symbol: str, day: dt.date) -> dt.date:
    """The first session after ``day`` on ``symbol``'s exchange (the next day for 24x7)."""
    market = Market.of(symbol)
    following = day + dt.timedelta(days=1)
    if market.calendar is None:
        return following
    cal = get_calendar(market.calendar)
    stamp = pd.Timestamp(following)
    if stamp > cal.last_session:
        return following
    return cal.date_to_session(stamp, direction="next").date()


def _lean_factor(data: bytes, source: str, symbol: str) -> pd.DataFrame:
    rows = _csv(data, header=None, names=["date", "price", "split", "reference"], dtype=str)
    dates = pd.to_datetime(rows["date"].str.strip(), format="%Y%m%d").dt.date
    price = rows["price"].astype(float).to_numpy()
    split = rows["split"].astype(float).to_numpy()
    reference = rows["reference"].astype(float).to_numpy()
    actions = []
    for i in range(len(rows) - 1):
        ex_date = None
        if split[i + 1] != split[i]:
            ex_date = _next_session(symbol, dates[i])
            ratio = snap_ratio(split[i + 1] / split[i])
            actions.append({"ex_date": ex_date, "kind": "split", "ratio": ratio})
        if price[i + 1] != price[i]:
            ex_date = ex_date or _next_session(symbol, dates[i])
            factor = price[i] / price[i + 1]
            amount = round(reference[i] * (1 - factor), 4)
            actions.append(
                {
                    "ex_date": ex_date,
                    "kind": "dividend",
                    "amount": amount,
                    "reference_price": reference[i],
                    "factor": factor,
                }
            )
    return action_frame(actions)


def _with_splits_undone(frame: pd.DataFrame) -> pd.DataFrame:
    """Dividend rows with ``dividend`` and ``reference`` in raw prices (see the module)."""
    ratio = frame["split"].to_numpy(dtype=float)
    # the splits after each row's date: its prices were divided by their product
    later = np.append(np.cumprod(ratio[::-1])[::-1][1:], 1.0)
    raw_close = pd.Series(frame["close"].to_numpy(dtype=float) * later)
    return frame.assign(dividend=frame["dividend"] * later, reference=raw_close.shift(1))


def _zipline(data: bytes, source: str, symbol: str) -> pd.DataFrame:
    frame = _csv(data).rename(columns=str.lower)
    frame = frame.sort_values("date", kind="stable").reset_index(drop=True)
    frame = _with_splits_undone(frame.assign(split=frame["split"].fillna(1.0)))
    return _actions(frame, "date", "dividend", "split", "reference")


def _quandl(data: bytes, source: str, symbol: str) -> pd.DataFrame:
    _, ticker = split_symbol(symbol)
    frame = _csv(data)
    tickers = frame["ticker"].astype(str)
    wanted = ticker.replace(".", "_")  # Quandl writes BRK.A as BRK_A
    frame = frame[tickers.isin({ticker, wanted})].sort_values("date", kind="stable")
    if frame.empty:
        found = ", ".join(sorted(tickers.unique())[:10])
        raise BadInputError(f"{source}: no rows of ticker {ticker!r}; the file has {found}")
    frame = frame.reset_index(drop=True)
    frame = frame.assign(reference=frame["close"].shift(1))
    return _actions(frame, "date", "ex-dividend", "split_ratio", "reference")


def _actions(frame: pd.DataFrame, date: str, dividend: str, split: str, reference: str):
    """Rows with a dividend other than 0 or a split other than 1, as actions."""
    days = pd.to_datetime(frame[date]).dt.date
    actions = []
    for i in np.flatnonzero(frame[split].fillna(1.0).to_numpy() != 1.0):
        ratio = snap_ratio(float(frame[split].iloc[i]))
        actions.append({"ex_date": days.iloc[i], "kind": "split", "ratio": ratio})
    for i in np.flatnonzero(frame[dividend].fillna(0.0).to_numpy() != 0.0):
        amount, ref = float(frame[dividend].iloc[i]), float(frame[reference].iloc[i])
        actions.append(
            {"ex_date": days.iloc[i], "kind": "dividend", "amount": round(amount, 4),
             "reference_price": round(ref, 4)}
        )  # fmt: skip
    return action_frame(actions)
