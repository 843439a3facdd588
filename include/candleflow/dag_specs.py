"""The DAGs a watchlist generates: one OHLCV DAG and one history DAG per configured timeframe,
each mapped over chunks of symbols that never mix providers (one chunk task holds one provider
connection).

Apart from ``watchlist`` (which reads and checks the TOML file) because this is the scheduling
policy: which calendar a DAG follows, where its intervals end, how long a run waits after one
ends. Both are read at DAG parse time and do no I/O beyond the small TOML file.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from candleflow import calendars
from candleflow.domain import Timeframe
from candleflow.watchlist import TimeframeSchedule, Watchlist

SETTLE_GRACE = dt.timedelta(seconds=30)  # a run is due this long after its interval ends


@dataclass(frozen=True)
class Chunk:
    """Symbols one chunk task loads through one provider connection."""

    provider: str
    symbols: tuple[str, ...]
    options: dict = field(default_factory=dict)

    def as_kwargs(self) -> dict[str, Any]:
        """The mapped arguments of one chunk task (``expand_kwargs``)."""
        return {"symbols": list(self.symbols), "provider_options": dict(self.options)}


@dataclass(frozen=True)
class DagSpec:
    """One generated OHLCV DAG: its id, timeframe, symbols and how it is scheduled."""

    dag_id: str
    timeframe: Timeframe
    symbols: tuple[str, ...]
    every: dt.timedelta
    settle: dt.timedelta
    calendar: str | None
    offset: dt.timedelta = dt.timedelta(0)
    chunks: tuple[Chunk, ...] = ()
    history_months: int | None = None  # set on history DAGs: months per run


def chunks(watchlist: Watchlist, symbols: tuple[str, ...], size: int) -> tuple[Chunk, ...]:
    """``symbols`` cut into chunks of at most ``size``, never mixing providers."""
    out, wanted = [], set(symbols)
    for source in watchlist.sources:
        mine = [s for s in source.symbols if s in wanted]
        for i in range(0, len(mine), size):
            out.append(Chunk(source.provider, tuple(mine[i : i + size]), source.options))
    return tuple(out)


def _offset(sched: TimeframeSchedule, calendar: str | None) -> dt.timedelta:
    """The grid shift of an intraday DAG: its calendar's bars close at the session open's
    minute (XNYS 1h bars close at :30), so its intervals end there too."""
    if sched.offset is not None:
        return sched.offset % sched.every
    exchange = next((e for e in calendars.EXCHANGES.values() if e.calendar == calendar), None)
    if exchange is None or not sched.timeframe.intraday or dt.timedelta(hours=1) % sched.every:
        return dt.timedelta(0)  # an offset longer than DST's hour would move twice a year
    opens = calendars.parse_session(exchange.session)[0].opens
    return dt.timedelta(minutes=opens) % sched.every


def dag_specs(watchlist: Watchlist) -> list[DagSpec]:
    """``ohlcv_<tf>`` per timeframe; a calendar timeframe splits off ``ohlcv_<tf>_24x7``
    for the symbols that do not trade on that calendar."""
    specs = []
    for sched in watchlist.timeframes:
        tf, size = sched.timeframe, sched.chunk_size or watchlist.chunk_size
        on_calendar = tuple(
            s
            for s in watchlist.symbols
            if sched.calendar and calendars.calendar_name(s) == sched.calendar
        )
        rest = tuple(s for s in watchlist.symbols if s not in on_calendar)
        for dag_id, symbols, calendar in (
            (f"ohlcv_{tf}", on_calendar, sched.calendar),
            (f"ohlcv_{tf}_24x7" if on_calendar else f"ohlcv_{tf}", rest, None),
        ):
            if not symbols:
                continue
            daily = calendar if calendar and not tf.intraday else None
            specs.append(
                DagSpec(
                    dag_id, tf, symbols, sched.every, SETTLE_GRACE, daily,
                    _offset(sched, calendar), chunks(watchlist, symbols, size),
                )
            )  # fmt: skip
    return specs


def history_specs(watchlist: Watchlist) -> list[DagSpec]:
    """``ohlcv_<tf>_history`` per timeframe with history: every symbol, ``history`` months a run."""
    specs = []
    for s in watchlist.timeframes:
        if s.history_months is None or not watchlist.symbols:
            continue
        size = s.chunk_size or watchlist.chunk_size
        specs.append(
            DagSpec(
                f"ohlcv_{s.timeframe}_history", s.timeframe, watchlist.symbols, s.every,
                SETTLE_GRACE, None, dt.timedelta(0), chunks(watchlist, watchlist.symbols, size),
                s.history_months,
            )
        )  # fmt: skip
    return specs
