"""``sync``: fetch, validate and load one instrument's window (``sync_chunk`` for many).

The command behind ``candleflow sync`` and the chunk tasks of the OHLCV DAGs. Its contract:
- the window ``(start, end]`` holds the bars that **closed** inside it (``services.window``):
  what a run due seconds after its interval can load, and windows that share edges tile;
- a long window is loaded in slices (``slice_bars``), each its own transaction and audit row,
  so memory stays bounded whatever the window's length;
- rows that fail validation go to ``rejected_bars`` with their rules, the rest load;
- when the rejected share passes ``reject_threshold`` the slice fails: nothing of it
  loads, the rejects and an audit row are still recorded, ``ValidationFailed`` is raised;
- a fetch that fails is audited as ``failed`` and re-raised (transient faults retry);
- a window older than the provider can serve is audited ``out_of_window`` (no error);
- re-running a window converges to the same rows and rewrites nothing unchanged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from candleflow.db import connection
from candleflow.domain import DEFAULT_JUMP_THRESHOLD, UTC, Timeframe, to_utc
from candleflow.providers import IDataProvider
from candleflow.services.chunk import DEFAULT_CONCURRENCY, OnSlice, sync_chunk
from candleflow.services.lanes import DEFAULT_LANES
from candleflow.services.load import DEFAULT_REJECT_THRESHOLD, LoadSettings
from candleflow.services.results import ChunkResult
from candleflow.services.window import DEFAULT_SLICE_BARS

__all__ = ["DEFAULT_REJECT_THRESHOLD", "settings_for", "sync", "sync_many"]


def settings_for(
    *,
    run_id: str | None = None,
    url: str | None = None,
    reject_threshold: float = DEFAULT_REJECT_THRESHOLD,
    jump_threshold: float | None = DEFAULT_JUMP_THRESHOLD,
    now: dt.datetime | str | None = None,
    slice_bars: int | None = DEFAULT_SLICE_BARS,
    clear_number: int | None = None,
) -> LoadSettings:
    """The ``LoadSettings`` of one sync, with the defaults filled in (``now``, run id, URL)."""
    now = to_utc(now, name="now") if now else dt.datetime.now(UTC)
    return LoadSettings(
        run_id=run_id or f"manual__{now.isoformat()}",
        url=url or connection.warehouse_url(),
        now=now,
        reject_threshold=float(reject_threshold),
        jump_threshold=jump_threshold,
        slice_bars=slice_bars,
        clear_number=clear_number,
    )


def sync_many(
    symbols: Sequence[str],
    timeframe: str | Timeframe,
    start: dt.datetime | str,
    end: dt.datetime | str,
    *,
    provider: str | IDataProvider = "tradingview",
    provider_options: dict[str, Any] | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    lanes: int = DEFAULT_LANES,
    resume: bool = False,
    on_slice: OnSlice | None = None,
    **settings: Any,
) -> ChunkResult:
    """``sync_chunk`` with string windows and default settings: many symbols, one provider.

    ``settings`` are ``settings_for``'s keywords (``run_id``, ``url``, ``slice_bars``, ...).
    """
    return sync_chunk(
        symbols,
        timeframe,
        to_utc(start, name="start"),
        to_utc(end, name="end"),
        settings_for(**settings),
        provider=provider,
        provider_options=provider_options,
        concurrency=concurrency,
        lanes=lanes,
        resume=resume,
        on_slice=on_slice,
    )


def sync(
    symbol: str,
    timeframe: str | Timeframe,
    start: dt.datetime | str,
    end: dt.datetime | str,
    *,
    provider: str | IDataProvider = "tradingview",
    provider_options: dict[str, Any] | None = None,
    run_id: str | None = None,
    url: str | None = None,
    reject_threshold: float = DEFAULT_REJECT_THRESHOLD,
    jump_threshold: float | None = DEFAULT_JUMP_THRESHOLD,
    now: dt.datetime | None = None,
    slice_bars: int | None = DEFAULT_SLICE_BARS,
) -> dict[str, Any]:
    """Load ``symbol``'s ``timeframe`` bars that closed in ``(start, end]``.

    Returns the counts summed over the window's slices (one slice: its audit row's counts),
    with ``outcome`` and ``duration_s``; the symbol's error, if any, is raised.
    """
    settings = settings_for(
        run_id=run_id,
        url=url,
        reject_threshold=reject_threshold,
        jump_threshold=jump_threshold,
        now=now,
        slice_bars=slice_bars,
    )
    chunk = sync_chunk(
        [symbol],
        timeframe,
        to_utc(start, name="start"),
        to_utc(end, name="end"),
        settings,
        provider=provider,
        provider_options=provider_options,
        concurrency=1,
    )
    (result,) = chunk.symbols
    if result.error is not None:
        raise result.error
    return result.as_dict() | {
        "run_id": settings.run_id,
        "timeframe": chunk.timeframe,
        "window_start": chunk.start,
        "window_end": chunk.end,
    }
