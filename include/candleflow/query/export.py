"""Export bars to Parquet for a data lake or a backtest: ``candleflow export`` and its DAG.

What is exported is exactly what ``candleflow.query.bars`` returns for the same symbols,
timeframe and window (adjustment, resampling and the provider-over-rollup rule included),
written in the layout of ``candleflow.db.lake`` (Hive partitions by symbol and month).

Why month-aligned reads when the timeframe is stored: memory stays bounded by one chunk
(about two million bars) whatever the window, and a month is never split across reads. A
timeframe that is resampled on read (1w from 1d, say) is read in one piece per symbol,
because its buckets may straddle months and must be built from the whole window.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from candleflow import config
from candleflow.db import lake
from candleflow.domain import Timeframe, to_utc

log = logging.getLogger(__name__)

CHUNK_BARS = 2_000_000  # bars per read of a stored timeframe (about 130 MB of Arrow)
WORKERS = 2


@dataclass
class ExportResult:
    """What one export wrote: bars per symbol, the files, and how long it took."""

    bars: dict[str, int] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.bars.values())


def _month_start(ts: dt.datetime) -> dt.datetime:
    return dt.datetime(ts.year, ts.month, 1, tzinfo=dt.UTC)


def _add_months(ts: dt.datetime, months: int) -> dt.datetime:
    index = ts.year * 12 + ts.month - 1 + months
    return dt.datetime(index // 12, index % 12 + 1, 1, tzinfo=dt.UTC)


def chunks(
    tf: Timeframe, start: dt.datetime, end: dt.datetime
) -> list[tuple[dt.datetime, dt.datetime]]:
    """``[start, end)`` cut at month starts into pieces of about ``CHUNK_BARS`` bars of ``tf``."""
    months = max(1, CHUNK_BARS * tf.minutes // (31 * 1440))
    pieces, lo = [], start
    while lo < end:
        hi = min(end, _add_months(_month_start(lo), months))
        pieces.append((lo, hi))
        lo = hi
    return pieces


def export_parquet(
    symbols: str | Iterable[str],
    timeframe: str | Timeframe,
    start: str | dt.datetime,
    end: str | dt.datetime,
    out: str | Path,
    *,
    adjustment: str | None = None,
    url: str | None = None,
) -> ExportResult:
    """Write the bars of ``symbols`` in [start, end) under ``out``; see the module docstring.

    ``adjustment`` is passed to ``query.bars`` when given (its default otherwise). An
    unknown symbol raises ``ValueError`` before anything is written; a known one without
    bars in the window is exported as zero bars.
    """
    from candleflow import query

    tf = Timeframe.parse(timeframe)
    wanted = [symbols] if isinstance(symbols, str) else list(symbols)
    begin, finish = to_utc(start, name="start"), to_utc(end, name="end")
    if begin >= finish:
        raise ValueError(
            f"start {begin:%Y-%m-%dT%H:%M}Z must be before end {finish:%Y-%m-%dT%H:%M}Z"
        )
    known = set(query.instruments(url=url)["symbol"]) if wanted else set()
    unknown = [s for s in wanted if s not in known]
    if unknown:
        raise ValueError(
            f"unknown symbol(s) {', '.join(unknown)}; see candleflow.query.instruments()"
        )
    options = {} if adjustment is None else {"adjustment": adjustment}

    def one(symbol: str) -> tuple[int, list[Path]]:
        stored = query.source_timeframe(symbol, tf, url=url)
        pieces = chunks(tf, begin, finish) if stored == tf else [(begin, finish)]
        count, files = 0, []
        for lo, hi in pieces:
            table: pa.Table = query.bars(symbol, tf, lo, hi, output="arrow", url=url, **options)
            files += lake.write_bars(table, out, symbol, tf.name, lo, hi)
            count += len(table)
        return count, files

    result, began = ExportResult(), time.perf_counter()
    # two symbols at a time: one's read (the server's work) overlaps the other's write
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for symbol, (count, files) in zip(wanted, pool.map(one, wanted), strict=True):
            result.bars[symbol], result.files = count, result.files + files
    result.seconds = time.perf_counter() - began
    log.info(
        "exported %d %s bars of %d symbols [%s, %s) to %s: %d files in %.1fs",
        result.total,
        tf,
        len(wanted),
        begin,
        finish,
        out,
        len(result.files),
        result.seconds,
    )
    return result


EXPORT_DIR_ENV = "CANDLEFLOW_EXPORT_DIR"


def scheduled_export(
    params: dict, interval_start: dt.datetime, interval_end: dt.datetime, *, url: str | None
) -> dict:
    """The ``export_parquet`` DAG's task: its params over the run's data interval.

    ``symbols`` (default: every active instrument), ``timeframe`` (1m), ``start``/``end``
    (default: the data interval), ``out`` (default ``$CANDLEFLOW_EXPORT_DIR``, else
    ``lake/`` in the Candleflow home) and ``adjustment``. Returns counts for XCom.
    """

    from candleflow import query

    symbols = params.get("symbols") or []
    if not symbols:
        listed = query.instruments(url=url)
        symbols = sorted(listed.loc[listed["active"], "symbol"])
    out = params.get("out") or config.setting(EXPORT_DIR_ENV) or config.home() / "lake"
    result = export_parquet(
        symbols,
        params.get("timeframe") or "1m",
        params.get("start") or interval_start,
        params.get("end") or interval_end,
        out,
        adjustment=params.get("adjustment"),
        url=url,
    )
    return {
        "symbols": len(symbols),
        "bars": result.total,
        "files": len(result.files),
        "out": str(out),
    }
