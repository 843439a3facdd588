"""The replay server's ``lean-aapl`` scenario: a real daily history as it was on a given date.

``NASDAQ:AAPL`` daily bars are LEAN's raw AAPL prices (``lean/daily/aapl.zip`` under the
shared data folder, 2000 on, the server's XNYS grid) up to the sessions that closed before
the ``as_of`` date, adjusted the way TradingView adjusts a series when the descriptor says
so, with what was known on that date:

- ``none``: as traded;
- ``splits``: prices times the split factor, volume divided by it;
- ``dividends``: prices also times the dividends' factor (total return).

The factors are LEAN's own, from its factor file (the first row on or after a date), made
relative to the newest session before ``as_of``: an action after ``as_of`` is unknown, so a
server as of 2020-08-15 shows AAPL near 460 and one as of 2020-09-30 shows the same days near
115 (the 4:1 split of 2020-08-31). Other resolutions of AAPL have no bars; other symbols stay
synthetic. Nothing here needs the data unless the scenario is chosen; when it is and the data
is missing, ``MissingData`` says which file and how to point at it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from candleflow import config
from candleflow.errors import ConfigError
from candleflow.testing.calendars import xnys_sessions

SYMBOL = "NASDAQ:AAPL"
DAILY = Path("lean/daily/aapl.zip")
FACTORS = Path("lean/factor_files/aapl.csv")
DATA_ENV = "CANDLEFLOW_SHARED_DATA"


class MissingData(ConfigError):
    """The scenario's data files are not where the server looked."""


def data_root(explicit: str | Path | None = None) -> Path:
    """Where the shared data is: ``explicit``, else ``$CANDLEFLOW_SHARED_DATA``, else
    ``../shared/data`` from the current directory (a worktree beside the shared folder)."""
    if explicit:
        return Path(explicit)
    env = config.setting(DATA_ENV)
    return Path(env) if env else Path.cwd().parent / "shared" / "data"


class LeanHistory:
    """AAPL's daily bars and their factors as of ``as_of``, keyed by XNYS session open."""

    def __init__(self, root: Path, as_of: dt.date) -> None:
        from candleflow.providers.files import read_bars

        for relpath in (DAILY, FACTORS):
            if not (root / relpath).is_file():
                raise MissingData(
                    f"scenario lean-aapl needs {root / relpath} (LEAN's AAPL daily data and "
                    f"factor file); point at the shared data folder with --data DIR or "
                    f"{DATA_ENV}"
                )
        self.as_of = as_of
        bars = read_bars(root / DAILY, "lean_daily", "1d")
        days = bars["ts"].dt.tz_convert(None).to_numpy().astype("datetime64[D]")
        keep = days < np.datetime64(as_of, "D")
        days, bars = days[keep], bars[keep].reset_index(drop=True)
        self.values = bars[["open", "high", "low", "close", "volume"]].to_numpy()
        self.split, self.price = _factors(root / FACTORS, days)
        opens, _ = xnys_sessions()
        open_days = (
            pd.to_datetime(opens, unit="s", utc=True)
            .tz_convert("America/New_York")
            .tz_localize(None)
        )
        by_day = dict(
            zip(open_days.normalize().to_numpy().astype("datetime64[D]"), opens, strict=True)
        )
        self.index = {int(by_day[d]): i for i, d in enumerate(days) if d in by_day}

    def serves(self, symbol: str) -> bool:
        return symbol == SYMBOL

    def page(self, tf_name: str, starts: np.ndarray, ends: np.ndarray, adjustment: str):
        """``(starts, ends, rows)`` of the bars among ``starts`` that LEAN has, adjusted."""
        if tf_name != "1d":
            return starts[:0], ends[:0], []
        found = [self.index.get(int(t), -1) for t in starts]
        keep = np.array([i >= 0 for i in found], dtype=bool)
        rows_at = np.array([i for i in found if i >= 0], dtype=np.int64)
        values = self.values[rows_at].copy()
        if adjustment in ("splits", "dividends"):
            scale = self.split[rows_at] * (self.price[rows_at] if adjustment == "dividends" else 1)
            values[:, :4] *= scale[:, None]
            values[:, 4] /= self.split[rows_at]
        rows = np.column_stack([starts[keep].astype(np.float64), values]).tolist()
        return starts[keep], ends[keep], rows


def _factors(path: Path, days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """LEAN's split and price factors of ``days``, relative to the last of them."""
    table = pd.read_csv(path, header=None, names=["date", "price", "split", "reference"])
    row_days = pd.to_datetime(table["date"].astype(str), format="%Y%m%d").to_numpy()
    at = np.searchsorted(row_days.astype("datetime64[D]"), days, side="left")
    split, price = table["split"].to_numpy()[at], table["price"].to_numpy()[at]
    if len(days) == 0:
        return split, price
    return split / split[-1], price / price[-1]
