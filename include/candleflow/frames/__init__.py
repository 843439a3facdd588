"""The bar frame: one home for its arithmetic.

- ``ends``: when a bar closes (months and a session instrument's dailies included);
- ``normalize``: the canonical frame (µs UTC timestamps, float64 values, identical
  duplicates collapsed), made once where a provider's frame enters (``normalize_bars``) and
  trusted after a cheap look by the window cut, validation and the bars writer.
"""

from __future__ import annotations

from candleflow.frames.ends import NAT, US_PER_MIN, bar_ends
from candleflow.frames.normalize import (
    TS_DTYPE,
    canonical,
    collapse_identical,
    duplicated_ts,
    empty_bars,
    floats,
    is_canonical,
    normalize_bars,
    ts_micros,
)

__all__ = [
    "NAT",
    "TS_DTYPE",
    "US_PER_MIN",
    "bar_ends",
    "canonical",
    "collapse_identical",
    "duplicated_ts",
    "empty_bars",
    "floats",
    "is_canonical",
    "normalize_bars",
    "ts_micros",
]
