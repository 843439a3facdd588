"""The compressed segment format of closed bars: encode a frame, decode it back exactly.

A segment is one series' bars of one UTC month (1m, 3m, 5m) or year (coarser timeframes) as
columns of small integers that TOAST compresses (``candleflow.bar_segments``, migration
0020, documents every column). Chosen by measurement (``benchmarks/bench_scale.py``): the
alternatives tried were plain float arrays (11-32 B a bar under pglz), byte planes in a
``bytea`` (smaller by ~1.5 B, but decoding them in SQL with ``get_byte`` ran 30x slower than
``unnest``) and 16-bit arrays (smaller by ~0.3 B a column, at the cost of a second array
type per column).

Exactness is the rule: a price is stored as an integer only when ``integer / scale`` gives
back the same double for every price of the segment (the decoders divide once, correctly
rounded, in Python and in SQL alike); otherwise the segment keeps its prices as floats.
Volume chooses its own scale the same way, so a vendor file with a few float artefacts in
its volumes costs float volumes for that segment only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from candleflow.domain import PRICE_COLUMNS, Timeframe

#: Timeframes whose segments span a UTC month; every other one spans a UTC year.
MONTHLY = frozenset({"1m", "3m", "5m"})
_SCALES = tuple(10**k for k in range(10))  # decimal scales tried, smallest first
_EXACT_INT = 2**53  # integers a double holds exactly
_INT4 = 2**31


def segment_bounds(timeframe: str | Timeframe, ts: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of the segment holding a bar of ``timeframe`` that starts at ``ts``."""
    ts = ts.astimezone(dt.UTC)
    if Timeframe.parse(timeframe).name in MONTHLY:
        start = dt.datetime(ts.year, ts.month, 1, tzinfo=dt.UTC)
        end = dt.datetime(ts.year + ts.month // 12, ts.month % 12 + 1, 1, tzinfo=dt.UTC)
    else:
        start = dt.datetime(ts.year, 1, 1, tzinfo=dt.UTC)
        end = dt.datetime(ts.year + 1, 1, 1, tzinfo=dt.UTC)
    return start, end


@dataclass
class Segment:
    """One segment's columns, as stored (names follow ``candleflow.bar_segments``)."""

    segment_start: dt.datetime
    segment_end: dt.datetime
    bars: int
    first_ts: dt.datetime
    last_ts: dt.datetime
    ts_delta: np.ndarray
    price_scale: int | None = None
    close_base: int | None = None
    ints: dict[str, np.ndarray] = field(default_factory=dict)  # open_delta ... close_delta
    floats: dict[str, np.ndarray] = field(default_factory=dict)  # open_float ... close_float
    volume_scale: int | None = None
    volume_int: np.ndarray | None = None  # float64 holding integers, NaN = NULL
    volume_float: np.ndarray | None = None
    filled: np.ndarray | None = None
    load_first: list[int] = field(default_factory=lambda: [1])
    loaded_at: list[dt.datetime] = field(default_factory=list)
    run_id: list[str | None] = field(default_factory=list)


def exact_scale(values: np.ndarray, first: int | None = None) -> int | None:
    """The smallest scale (``first``, then powers of ten) at which every value is an exact
    integer multiple of 1/scale; None when there is none (NaNs are ignored)."""
    values = values[~np.isnan(values)]
    candidates = sorted({*_SCALES, *([first] if first and first > 0 else [])})
    for scale in candidates:
        ints = np.round(values * scale)
        if np.all(np.abs(ints) < _EXACT_INT) and np.array_equal(ints / scale, values):
            return scale
    return None


def _price_ints(frame: pd.DataFrame, scale: int) -> dict[str, np.ndarray] | None:
    o, h, lo, c = (
        np.round(frame[k].to_numpy(np.float64) * scale).astype(np.int64) for k in PRICE_COLUMNS
    )
    previous = np.concatenate([c[:1], c[:-1]])
    deltas = {
        "open_delta": o - previous,
        "high_delta": h - np.maximum(o, c),
        "low_delta": np.minimum(o, c) - lo,
        "close_delta": c - previous,
    }
    if any(np.abs(d).max(initial=0) >= _INT4 for d in deltas.values()):
        return None
    return {k: d.astype(np.int32) for k, d in deltas.items()}


def encode(
    frame: pd.DataFrame, timeframe: str | Timeframe, *, price_scale: int | None = None
) -> Segment:
    """The segment of ``frame``: bars of one series, ts-ordered, all in one segment.

    ``frame`` has ``ts`` (UTC), the prices, ``volume`` (NaN = NULL) and optionally
    ``filled``, ``loaded_at`` and ``run_id``. ``price_scale`` (the instrument's) is tried
    first; any exact decimal scale up to 10^9 is found anyway.
    """
    if frame.empty:
        raise ValueError("a segment needs at least one bar")
    ts = frame["ts"]
    if not ts.is_monotonic_increasing or not ts.is_unique:
        raise ValueError("segment bars must be in strictly increasing ts order")
    first, last = ts.iloc[0].to_pydatetime(), ts.iloc[-1].to_pydatetime()
    start, end = segment_bounds(timeframe, first)
    if last >= end:
        raise ValueError(f"bars from {first} to {last} span more than the segment [{start}, {end})")
    naive = ts.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    micros = naive.astype("datetime64[us]").view(np.int64)
    origin = int(pd.Timestamp(start).value // 1000)
    segment = Segment(start, end, len(frame), first, last, np.diff(micros, prepend=origin))
    prices = np.concatenate([frame[k].to_numpy(np.float64) for k in PRICE_COLUMNS])
    scale = exact_scale(prices, price_scale)
    ints = None if scale is None or np.isnan(prices).any() else _price_ints(frame, scale)
    if ints is None:
        segment.floats = {f"{k}_float": frame[k].to_numpy(np.float64) for k in PRICE_COLUMNS}
    else:
        segment.price_scale, segment.ints = scale, ints
        segment.close_base = round(float(frame["close"].iloc[0]) * scale)
    _encode_volume(segment, frame["volume"].to_numpy(np.float64))
    if "filled" in frame and frame["filled"].fillna(False).astype(bool).any():
        segment.filled = frame["filled"].fillna(False).to_numpy(bool)
    _encode_loads(segment, frame)
    return segment


def _encode_volume(segment: Segment, volume: np.ndarray) -> None:
    if np.isnan(volume).all():
        return
    scale = exact_scale(volume)
    if scale is None:
        segment.volume_float = volume
    else:
        segment.volume_scale, segment.volume_int = scale, np.round(volume * scale)


def _encode_loads(segment: Segment, frame: pd.DataFrame) -> None:
    """Run-length encode (loaded_at, run_id): one entry per run of bars loaded together."""
    if "loaded_at" not in frame:
        segment.loaded_at, segment.run_id = [dt.datetime.now(dt.UTC)], [None]
        return
    keys = pd.DataFrame({"at": frame["loaded_at"], "run": frame.get("run_id")}).fillna("\0")
    changed = (keys != keys.shift()).any(axis=1).to_numpy().copy()
    changed[0] = True
    starts = np.flatnonzero(changed)
    segment.load_first = [int(i) + 1 for i in starts]
    segment.loaded_at = [keys["at"].iloc[i].to_pydatetime() for i in starts]
    runs = keys["run"].iloc[starts]
    segment.run_id = [None if r == "\0" else str(r) for r in runs]


def decode_values(segment: Segment) -> dict[str, np.ndarray]:
    """``ts`` (int64 microseconds since the epoch), the prices and ``volume`` (NaN = NULL) of
    ``segment``: what a read needs, without the provenance."""
    origin = int(pd.Timestamp(segment.segment_start).value // 1000)
    out = {"ts": origin + np.cumsum(segment.ts_delta)}
    if segment.price_scale is not None:
        d = segment.ints
        close = segment.close_base + np.cumsum(d["close_delta"], dtype=np.int64)
        opn = close - d["close_delta"] + d["open_delta"]
        high = np.maximum(opn, close) + d["high_delta"]
        low = np.minimum(opn, close) - d["low_delta"]
        for name, ints in zip(PRICE_COLUMNS, (opn, high, low, close), strict=True):
            out[name] = ints.astype(np.float64) / segment.price_scale
    else:
        out.update({k: segment.floats[f"{k}_float"] for k in PRICE_COLUMNS})
    if segment.volume_int is not None:
        out["volume"] = segment.volume_int / segment.volume_scale
    elif segment.volume_float is not None:
        out["volume"] = segment.volume_float
    else:
        out["volume"] = np.full(segment.bars, np.nan)
    return out


def decode(segment: Segment) -> pd.DataFrame:
    """The bars of ``segment`` (``ts``, prices, ``volume``, ``filled``, ``loaded_at``,
    ``run_id``), value for value what was encoded."""
    out: dict[str, object] = dict(decode_values(segment))
    out["ts"] = pd.to_datetime(out["ts"], unit="us", utc=True)
    out["filled"] = (
        np.zeros(segment.bars, bool) if segment.filled is None else segment.filled.astype(bool)
    )
    run = np.searchsorted(np.asarray(segment.load_first), np.arange(1, segment.bars + 1), "right")
    out["loaded_at"] = pd.to_datetime(
        np.asarray(segment.loaded_at, dtype=object)[run - 1], utc=True
    )
    out["run_id"] = np.asarray(segment.run_id, dtype=object)[run - 1]
    return pd.DataFrame(out)
