"""Bar parsing and the per-fetch bar store of the chart session.

Bars are keyed by their open time, never by ``i`` (indices are renumbered between pages).
``abs(x) >= 1e99`` is TradingView's "no value" sentinel (it sends ``1e+100``), and a 5-element
``v`` array means the symbol has no volume; both become NaN, i.e. NULL in the warehouse.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from candleflow.domain import BAR_COLUMNS
from candleflow.errors import ProtocolError
from candleflow.providers.tradingview.retry import Timings

NO_VALUE = 1e99


def value(x: Any) -> float:
    """A bar or quote number; the 1e+100 sentinel and null become NaN."""
    if x is None:
        return math.nan
    x = float(x)
    return math.nan if abs(x) >= NO_VALUE else x


Row = tuple[float, float, float, float, float]


def parse_bar(raw: Any) -> tuple[float, Row]:
    """One ``v`` array as (open time, OHLCV); 5 elements mean no volume (NaN)."""
    if not isinstance(raw, list) or len(raw) < 5 or raw[0] is None:
        raise ProtocolError(f"malformed bar {str(raw)[:80]}")
    vol = value(raw[5]) if len(raw) > 5 else math.nan
    return float(raw[0]), (value(raw[1]), value(raw[2]), value(raw[3]), value(raw[4]), vol)


@dataclass
class BarStore:
    """Bars by open time (unix seconds); survives the reconnects of one fetch.

    Merge rule: one message's bars replace what an earlier message said about the same
    times (a re-sent page after a reconnect is identical; a live ``du`` grows the newest
    bar). Within one message, *different* bars with the same time are all kept: that
    conflict is the server's, and validation rejects it rather than this class choosing.
    """

    bars: dict[float, list[Row]] = field(default_factory=dict)

    def __len__(self) -> int:
        return sum(len(rows) for rows in self.bars.values())

    def add_series(self, entries: list[Any]) -> list[float]:
        """Merge the ``s`` list of one message; returns the bar times it carried."""
        fresh: dict[float, list[Row]] = {}
        for entry in entries:
            ts, row = parse_bar(entry.get("v") if isinstance(entry, dict) else None)
            rows = fresh.setdefault(ts, [])
            if row not in rows:  # value() returns the one math.nan object, so NaN rows match
                rows.append(row)
        self.bars.update(fresh)
        return list(fresh)

    def frame(self, timings: Timings) -> Any:
        """The bars as a ``BAR_COLUMNS`` DataFrame, ``ts`` UTC, sorted."""
        import numpy as np
        import pandas as pd

        started = time.perf_counter()
        order = sorted(self.bars)
        times = np.array([t for t in order for _ in self.bars[t]], dtype="float64")
        values = np.array([r for t in order for r in self.bars[t]], dtype="float64")
        values = values.reshape(-1, 5)
        frame = pd.DataFrame(values, columns=list(BAR_COLUMNS[1:]))
        stamps = pd.to_datetime((times * 1_000_000).astype("int64"), unit="us", utc=True)
        frame.insert(0, "ts", stamps)
        timings.frame_build_s += time.perf_counter() - started
        return frame
