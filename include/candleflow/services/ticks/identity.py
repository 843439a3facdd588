"""Tick identity on the live stream: the key a tick is stored under survives processes.

The key of ``candleflow.ticks`` is ``(instrument, ts, seq)``. TradingView stamps trades to
the second, so ``seq`` must order the ticks of one second, and must do so across every
process that ever collects the instrument: the next 5-minute capture run, a retry, a
restarted collector. Two designs were possible:

- a *content key* (a hash of ts, price, cumulative volume, bid, ask) identifies a replayed
  tick in any process, but cannot order the ticks of a second (hash order is arbitrary, and
  the cumulative day volume would then fall inside a session, which the rollup reads as a
  session reset), and collapses two real events with equal values;
- a *per-instrument sequence* orders every tick in the order the provider sent it, across
  runs, if exactly one process extends it at a time and it resumes where the last one ended.

Candleflow uses the sequence, and the content only to recognise replays:

1. one collector per instrument: a session advisory lock (``db.locks.collector_key``) held
   for the whole run; a second collector of the symbol waits for it or fails fast;
2. under the lock the sequence resumes from ``tick_streams.last_seq`` (stored in each
   batch's transaction, so it is never ahead of or behind what was committed), from 2^32 on;
3. the provider re-sends the last trade as the snapshot of every new subscription, and a
   replaying peer re-sends more: a received tick whose content equals one of the
   instrument's newest stored ticks (``StreamPosition.recent``) is a duplicate and takes no
   seq. Within one process the provider already drops such replays after a reconnect.

So the same tick is stored once, distinct ticks never share a key, and ``(ts, seq)`` keeps
the provider's order, so cumulative volume never falls inside a session.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from candleflow.db.ticks import StreamPosition
from candleflow.validation.ticks import representable

_VALUES = ("price", "size", "day_volume", "bid", "ask")
_NAT = np.iinfo("int64").min  # NaT as datetime64[us]


class StreamIdentity:
    """Gives the live ticks of the instruments it was seeded with their stored keys."""

    def __init__(self, positions: Mapping[int, StreamPosition]) -> None:
        self._next = {iid: p.next_seq for iid, p in positions.items()}
        self._recent = {iid: p.recent for iid, p in positions.items() if p.recent}
        self._newest = {iid: p.newest_us for iid, p in positions.items() if p.recent}

    def frame(self, rows: Sequence[tuple], ids: Mapping[str, int]) -> tuple[Any, Any, dict]:
        """The batch as the frame ``store_tick_batch`` takes, which rows it kept (the others
        replay stored ticks), and the last seq given per instrument. ``rows`` are ``TickRow``
        tuples (ts in unix seconds); a ts no datetime can hold becomes NaT with its value kept
        in ``raw_ts``."""
        import pandas as pd

        symbol, ts, price, size, day_volume, bid, ask, _seq = zip(*rows, strict=True)
        iid = np.fromiter(map(ids.__getitem__, symbol), "int64", len(rows))
        seconds = np.array(ts, dtype="float64")
        ok = representable(seconds)
        micros = np.where(ok, np.rint(np.where(ok, seconds, 0.0) * 1e6), 0).astype("int64")
        columns = {
            name: np.array(column, dtype="float64")  # None -> NaN -> NULL
            for name, column in zip(_VALUES, (price, size, day_volume, bid, ask), strict=True)
        }
        keep = ~self._replays(iid, micros, ok, columns)
        if not keep.all():
            iid, micros, ok, seconds = iid[keep], micros[keep], ok[keep], seconds[keep]
            columns = {name: values[keep] for name, values in columns.items()}
        seq, last = self._number(iid)
        frame = pd.DataFrame(
            {
                "instrument_id": iid,
                "ts": pd.Series(np.where(ok, micros, _NAT).view("M8[us]")).dt.tz_localize("UTC"),
                "seq": seq,
                **columns,
            }
        )
        if not ok.all():
            texts = [
                None if good else repr(v) for good, v in zip(ok, seconds.tolist(), strict=True)
            ]
            frame["raw_ts"] = texts
        return frame, keep, last

    def _replays(self, iid: np.ndarray, micros: np.ndarray, ok: np.ndarray, columns) -> np.ndarray:
        """Rows equal to a stored tick; only rows no newer than the newest stored one can be."""
        drop = np.zeros(len(iid), dtype=bool)
        for instrument, newest in self._newest.items():
            candidates = np.flatnonzero((iid == instrument) & ok & (micros <= newest))
            recent = self._recent[instrument]
            for i in candidates:
                key = (int(micros[i]), *(_none(columns[c][i]) for c in ("price", "day_volume")))
                key += tuple(_none(columns[c][i]) for c in ("bid", "ask"))
                drop[i] = key in recent
        return drop

    def _number(self, iid: np.ndarray) -> tuple[np.ndarray, dict[int, int]]:
        """Consecutive seqs per instrument, in row (arrival) order."""
        seq = np.empty(len(iid), dtype="int64")
        last: dict[int, int] = {}
        for instrument in np.unique(iid).tolist():
            at = np.flatnonzero(iid == instrument)
            start = self._next[instrument]
            seq[at] = np.arange(start, start + len(at))
            self._next[instrument] = start + len(at)
            last[instrument] = start + len(at) - 1
        return seq, last


def _none(value: float) -> float | None:
    return None if np.isnan(value) else float(value)
