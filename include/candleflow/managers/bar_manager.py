"""``BarManager``: plans the roll of stored ticks into time bars, incrementally and idempotently.

The nautilus_trader split: the manager decides *which* intervals are due and in which
order, and hands each level to the parts that do the work, writing no SQL itself:
``candleflow.db.rollup_state`` consumes the dirty marks, ``managers.rollup_sql`` computes the
level's bars, ``candleflow.db.bars`` (the one writer of ``bars``) stores them. A bar is
labelled by its start and covers ``[ts, ts + timeframe)``; open is the first trade by
``(ts, seq)``, close the last. Only closed intervals are built: the forming bar (its end
after ``now``) stays pending in ``rollup_dirty`` and is built by a later rollup.

What invalidates bars: a trigger on ``ticks`` marks the minute of every inserted tick, of
any age and in any order, per instrument. A rollup consumes the closed dirty minutes,
builds their 1m bars, and marks the enclosing buckets of the higher timeframes, each built
from the largest configured lower timeframe that divides it (5m from 1m, 15m from 5m, 1h
from 15m; 1d from 1m along the exchange session, see ``sessions``). Unchanged bars are not
rewritten, and their buckets are not marked. Re-running a rollup changes nothing.

Instruments that trade in sessions (``AMEX:SPY`` on XNYS) get the bars of their regular
session only, on the grid their provider uses (XNYS 1h bars at 09:30, 10:30, ... New York
time): a minute outside the exchange calendar's sessions (pre- and post-market, holidays)
builds no bar, and its ticks stay stored for an extended-hours series (``sessions``).

Bars go into ``candleflow.bars`` with ``source = 'rollup'``; ``source`` is part of the key,
so a provider's bar and a rolled-up bar of the same interval live side by side and neither
overwrites the other; the read side returns one series (``candleflow.query``).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from candleflow.calendars import Market
from candleflow.db import bars, locks, partitions, rollup_state
from candleflow.domain import UTC, Timeframe
from candleflow.managers import rollup_sql, sessions

log = logging.getLogger(__name__)

DEFAULT_TIMEFRAMES: tuple[str, ...] = ("1m", "5m", "15m", "1h", "1d")
ONE_MINUTE = Timeframe.parse("1m")
SESSION_MARGIN = dt.timedelta(days=10)  # sessions staged around the minutes (what fill sees)


@dataclass
class RollupResult:
    """What one rollup did, per timeframe: bars built, inserted, updated (rest unchanged)."""

    built: dict[str, int] = field(default_factory=dict)
    inserted: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    filled: dict[str, int] = field(default_factory=dict)
    outside_session: int = 0  # 1m bars not built: minutes outside a regular session
    duration_s: float = 0.0

    @property
    def changed(self) -> int:
        return sum(self.inserted.values()) + sum(self.updated.values())


class BarManager:
    """Build time bars from ``candleflow.ticks`` into ``candleflow.bars`` (source rollup).

    ``fill=True`` also stores a flat bar (open = high = low = close = previous close,
    volume 0, ``filled = true``) for every empty intraday interval between two real bars.
    """

    def __init__(
        self, timeframes: Iterable[str | Timeframe] = DEFAULT_TIMEFRAMES, *, fill: bool = False
    ) -> None:
        tfs = sorted({Timeframe.parse(tf) for tf in timeframes}, key=lambda tf: tf.delta)
        bad = [tf.name for tf in tfs if tf.minutes is None or tf.minutes > 1440]
        if bad:
            raise ValueError(f"rollup timeframes {bad} not supported; expected 1m..1d")
        if ONE_MINUTE not in tfs:
            tfs.insert(0, ONE_MINUTE)  # every level is built from the 1m bars
        self.timeframes: tuple[Timeframe, ...] = tuple(tfs)
        self.fill = fill
        self.parents = {tf.name: self._parent(tf).name for tf in tfs[1:]}

    def _parent(self, tf: Timeframe) -> Timeframe:
        if tf.name == "1d":
            return ONE_MINUTE  # sessions do not align with intraday buckets
        lower = [p for p in self.timeframes if p.delta < tf.delta and tf.minutes % p.minutes == 0]
        return lower[-1]

    def children(self, tf: str) -> list[Timeframe]:
        return [t for t in self.timeframes if self.parents.get(t.name) == tf]

    def rollup(
        self,
        conn,
        *,
        run_id: str,
        instrument_ids: Sequence[int] | None = None,
        now: dt.datetime | None = None,
    ) -> RollupResult:
        """Build every dirty, closed interval (of ``instrument_ids``, default all); one
        transaction, so a failed rollup leaves its dirty marks for the next one."""
        now = now or dt.datetime.now(UTC)
        if now.tzinfo is None:
            raise ValueError(f"now must be timezone-aware (UTC), got {now!r}")
        ids = [int(i) for i in instrument_ids] if instrument_ids is not None else None
        result = RollupResult()
        began = time.perf_counter()
        self._cover(conn, now)
        with conn, conn.cursor() as cur:
            locks.lock_rollup(cur)
            rollup_sql.create_scratch(cur)
            rollup_state.take_minutes(cur, now=now, ids=ids)
            # after taking the minutes: every instrument they hold gets its session
            self._stage_sessions(cur)
            rollup_sql.build_minute_bars(cur)
            result.outside_session = rollup_sql.drop_outside_sessions(cur)
            self._store(cur, ONE_MINUTE, run_id, result)
            rollup_state.advance_watermark(cur, run_id=run_id)
            rollup_sql.drop_minutes(cur)
            for tf in self.timeframes[1:]:
                rollup_state.take_buckets(cur, tf, now=now, ids=ids)
                rollup_sql.build_from_parent(cur, self.parents[tf.name])
                self._store(cur, tf, run_id, result)
            if self.fill:
                for tf in self.timeframes:
                    if tf.intraday:
                        result.filled[tf.name] = bars.fill_gaps(cur, tf, run_id=run_id, now=now)
        result.duration_s = time.perf_counter() - began
        log.info(
            "rollup %s: built %s, inserted %s, updated %s in %.3fs"
            " (%d minutes outside regular sessions left as ticks)",
            run_id,
            result.built,
            result.inserted,
            result.updated,
            result.duration_s,
            result.outside_session,
        )
        return result

    def _cover(self, conn, now: dt.datetime) -> None:
        """The partitions of every level for the dirty minutes' span, before the rollup's
        transaction (rolled-up tick history is old, and a level's bucket may start a day
        before its first minute on a session grid), so no rollup bar lands in a DEFAULT."""
        with conn, conn.cursor() as cur:
            months = rollup_state.dirty_months(cur, now=now)
        for tf in self.timeframes:
            partitions.cover(conn, f"bars_{tf.name}", months)

    def _store(self, cur, tf: Timeframe, run_id: str, result: RollupResult) -> None:
        """Hand the level's bars to the bar writer, then mark the levels built from them."""
        counts = bars.upsert_rollup(cur, tf.name, run_id=run_id)
        rollup_state.mark_built(cur, self.children(tf.name))
        result.built[tf.name], result.inserted[tf.name], result.updated[tf.name] = counts

    @staticmethod
    def _stage_sessions(cur) -> None:
        """Stage what the levels need to know about each instrument's trading: its daily
        session, and for session markets their intraday grid and the regular sessions around
        the minutes taken (``managers.sessions``; ``SESSION_MARGIN`` on each side, for fill)."""
        days, grids = [], []
        for instrument_id, symbol, exchange, tz, session in rollup_sql.session_instruments(cur):
            spec = sessions.daily_session(session, tz)
            days.append((instrument_id, spec.timezone, spec.open_offset, spec.length))
            market = Market.of(symbol, exchange, tz)
            grid = sessions.session_grid(market)
            if grid is not None:
                grids.append((instrument_id, grid.timezone, grid.origin, market.calendar))
        rollup_sql.stage_sessions(cur, days)
        rollup_sql.stage_grids(cur, grids)
        regular = []
        for calendar, first, last in rollup_sql.calendar_spans(cur):
            market = Market(calendar, "UTC", calendar)  # a calendar's sessions, any symbol
            spans = sessions.regular_sessions(market, first - SESSION_MARGIN, last + SESSION_MARGIN)
            regular += [(calendar, *span) for span in spans]
        rollup_sql.stage_days(cur, regular)

    def mark_window(
        self, conn, instrument_ids: Sequence[int], start: dt.datetime, end: dt.datetime
    ) -> int:
        """Mark every minute with ticks in ``[start, end)`` dirty: the next rollup rebuilds
        it (after a code fix, say); idempotence makes that safe. Caller's transaction."""
        return rollup_state.mark_window(conn, instrument_ids, start, end)
