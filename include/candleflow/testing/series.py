"""Which bars the replay server sends for a series request: counts, ranges, paging, lookback.

Requests (``create_series`` and ``modify_series``):

- a count: the newest ``min(count, bar_cap)`` bars (the last may be the forming bar);
- ``["bar_count", to, n]``: ``n`` bars ending at ``to``;
- a range ``"r,<from>:<to>"`` (Unix seconds, bar starts, both inclusive), in the 7th slot of
  ``create_series``/``modify_series`` or in the count slot, where tvkit sends it with
  ``modify_series``: the bars of the range the series has not delivered yet, the newest
  ``bar_cap`` of them when the range holds more. Leaving out what was delivered is what tvkit
  documents of TradingView (its ``create_series`` then ``modify_series`` merge relies on it);
- ``request_more_data n``: the ``n`` bars before the oldest bar delivered so far.

Lookback (``max_bars``): only the newest ``max_bars`` bars of a series exist for the client;
anything older comes back as an empty page without an error, as real TradingView does on a
plan's limit. ``reachable_start`` is the start of the oldest of them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from candleflow.domain import Timeframe
from candleflow.testing import calendars
from candleflow.testing.synthetic import SymbolSpec

_RESOLUTION_ALIASES = {"D": "1D", "W": "1W", "M": "1M", "1H": "60", "2H": "120", "4H": "240"}
Bars = tuple[np.ndarray, np.ndarray]


@dataclasses.dataclass(slots=True)
class Series:
    """A loaded series: what the client named it and which bar starts it has delivered."""

    sid: str
    turnaround: str
    alias: str
    sym: SymbolSpec
    tf: Timeframe
    delivered: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    adjustment: str = "splits"  # the resolve descriptor's: none, splits or dividends

    @property
    def earliest(self) -> int | None:
        """Start of the oldest bar delivered so far."""
        return min((lo for lo, _ in self.delivered), default=None)

    def record(self, starts: np.ndarray) -> None:
        if len(starts):
            self.delivered.append((int(starts[0]), int(starts[-1])))

    def undelivered(self, starts: np.ndarray) -> np.ndarray:
        keep = np.ones(len(starts), dtype=bool)
        for lo, hi in self.delivered:
            keep &= (starts < lo) | (starts > hi)
        return keep


def parse_resolution(code: object) -> Timeframe | None:
    """The timeframe of a TradingView resolution string, or ``None`` if unsupported."""
    if not isinstance(code, str):
        return None
    try:
        return Timeframe.from_resolution(_RESOLUTION_ALIASES.get(code, code))
    except ValueError:
        return None


def parse_range(value: object) -> tuple[int, int] | None:
    """``(from, to)`` of an ``"r,<from>:<to>"`` string; ``None`` if ``value`` is no range.

    A string that starts like a range but is not one raises ``ValueError`` (the handler
    answers it with ``critical_error`` ``invalid parameters``).
    """
    if not (isinstance(value, str) and value.startswith("r,")):
        return None
    lo_text, sep, hi_text = value[2:].partition(":")
    if not sep:
        raise ValueError(f"bad range {value!r}; expected r,<from_unix>:<to_unix>")
    return int(lo_text), int(hi_text)


def reachable_start(series: Series, now: int, max_bars: int | None) -> int | None:
    """Start of the oldest bar within the lookback, or ``None`` when unlimited."""
    if max_bars is None:
        return None
    starts, _ = calendars.last_n(series.sym.calendar, series.tf, now, max_bars)
    return int(starts[0]) if len(starts) else now


def _within(bars: Bars, floor: int | None) -> Bars:
    if floor is None:
        return bars
    keep = bars[0] >= floor
    return bars[0][keep], bars[1][keep]


def load_page(
    series: Series,
    count: Any,
    range_: tuple[int, int] | None,
    *,
    now: int,
    cap: int,
    floor: int | None,
) -> Bars:
    """The bars of a ``create_series``/``modify_series`` load (see the module docstring)."""
    cal, tf = series.sym.calendar, series.tf
    if range_ is not None:
        lo, hi = range_
        starts, ends = calendars.grid(cal, tf, max(lo, floor or lo), min(hi + 1, now))
        keep = series.undelivered(starts)
        starts, ends = starts[keep][-cap:], ends[keep][-cap:]
    elif isinstance(count, list) and len(count) == 3 and count[0] == "bar_count":
        starts, ends = calendars.last_n(cal, tf, min(int(count[1]) + 1, now), min(count[2], cap))
    else:
        n = count if isinstance(count, int) and count > 0 else 300
        starts, ends = calendars.last_n(cal, tf, now, min(n, cap))
    starts, ends = _within((starts, ends), floor)
    return starts, np.minimum(ends, now)


def older_page(series: Series, n: int, *, now: int, cap: int, floor: int | None) -> Bars:
    """The bars of ``request_more_data n``: before the oldest delivered, within the lookback."""
    before = series.earliest if series.earliest is not None else now
    starts, ends = calendars.last_n(series.sym.calendar, series.tf, before, min(n, cap))
    starts, ends = _within((starts, ends), floor)
    return starts, np.minimum(ends, now)
