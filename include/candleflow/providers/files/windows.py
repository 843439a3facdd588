"""One window of a bar file at a time, without holding the file: a chunk index per file.

The files provider is asked for one window at a time (a long sync is sliced, a history DAG
runs month by month). The first read of a file walks all of it, chunk by chunk
(``readers.iter_bars``), and notes each chunk's span of bar starts; later windows parse only
the chunks whose span meets theirs. So memory holds one chunk plus the window's bars,
whatever the file's size, and a file of N windows is parsed about twice, not N times.

A row whose timestamp is missing or unreadable is **anchored** to the readable row before
it in the file (the first readable one when it leads the file): it belongs to the window
that holds its anchor, so it is fetched exactly once, and validation rejects it as
``not_null`` with the rest of its values (the ``anchor`` column travels to
``services.window.closed_in``). A file whose first chunk has no readable timestamp at all
is refused: its mapping is wrong, not its rows.
"""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pandas as pd

from candleflow.domain import Timeframe, to_micros
from candleflow.errors import BadInputError
from candleflow.frames import empty_bars, ts_micros
from candleflow.providers.files.mapping import FileMapping
from candleflow.providers.files.readers import iter_bars

Span = tuple[int, int, int]  # first and last anchor of a chunk, and its last anchor (int64 us)
_NONE = (2**62, -(2**62), -(2**62))  # an empty chunk: meets no window, anchors nothing


class BarFile:
    """The windows of one bar file (``path`` read with ``mapping`` as ``tf`` bars).

    Reads of one file are serialised: the first indexes it for the others, and parallel
    parses of one file would only compete for the same cores and memory (a sync fetches a
    few windows ahead in threads). Different files are read in parallel."""

    def __init__(self, path: Path, mapping: FileMapping, tf: Timeframe) -> None:
        self.path, self.mapping, self.tf = path, mapping, tf
        self.spans: list[Span] | None = None
        self._lock = threading.Lock()

    def window(self, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
        """The rows anchored in ``[start, end)`` (an ``anchor`` column where ts is missing)."""
        with self._lock:  # one read of the file at a time (see the class docstring)
            frame, spans = self._read(start, end, self.spans)
            self.spans = self.spans or spans
            return frame

    def _read(self, start, end, spans: list[Span] | None) -> tuple[pd.DataFrame, list[Span]]:
        lo, hi = to_micros(start), to_micros(end)

        def wanted(i: int) -> bool:
            return spans is None or (i < len(spans) and spans[i][0] < hi and spans[i][1] >= lo)

        parts, found, last = [], [], None
        for i, chunk in enumerate(iter_bars(self.path, self.mapping, self.tf, wanted=wanted)):
            if chunk is None:
                if spans[i] != _NONE:
                    last = pd.Timestamp(spans[i][2], unit="us", tz="UTC")
                continue
            if chunk.empty:
                found.append(_NONE)
                continue
            anchor = self._anchors(chunk["ts"], last)
            micros = ts_micros(anchor)
            found.append((int(micros.min()), int(micros.max()), int(micros[-1])))
            last = anchor.iloc[-1]
            keep = (micros >= lo) & (micros < hi)
            if keep.any():
                part = chunk[keep]
                if part["ts"].isna().any():
                    part = part.assign(anchor=anchor[keep])
                parts.append(part)
        if not parts:
            return empty_bars(), found
        return pd.concat(parts, ignore_index=True), found

    def _anchors(self, ts: pd.Series, last: pd.Timestamp | None) -> pd.Series:
        anchor = ts.ffill()
        if last is not None:
            anchor = anchor.fillna(last)
        anchor = anchor.bfill()  # rows before the file's first readable timestamp
        if anchor.isna().any():
            raise BadInputError(
                f"{self.path.name}: no readable timestamp in its first {len(ts)} rows; "
                "check the mapping (its ts column, format or unit)"
            )
        return anchor
