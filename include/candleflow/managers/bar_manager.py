"""``BarManager``: rolls stored ticks into time bars, incrementally and idempotently.

Vocabulary (after nautilus_trader): the manager decides *which* intervals are due and in
which order; the SQL in ``rollup_sql`` builds them; ``candleflow.bars`` receives them. A
bar is labelled by its start and covers ``[ts, ts + timeframe)``; open is the first trade
by ``(ts, seq)``, close the last. Only closed intervals are built: the forming bar (its end
after ``now``) stays pending in ``rollup_dirty`` and is built by a later rollup.

Incremental: a trigger on ``ticks`` marks the minute of every new (or late) tick; a rollup
consumes the closed dirty minutes, builds their 1m bars, and marks the enclosing buckets of
the higher timeframes, each built from the largest configured lower timeframe that divides
it (5m from 1m, 15m from 5m, 1h from 15m; 1d from 1m along the exchange session, see
``sessions``). Unchanged bars are not rewritten. Re-running a rollup changes nothing.

Bars go into ``candleflow.bars`` with ``source = 'rollup'``; ``source`` is part of the key,
so a provider's bar and a rolled-up bar of the same minute live side by side and neither
overwrites the other (comparing them is a query, not a race).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from psycopg2.extras import execute_values

from candleflow.domain import UTC, Timeframe
from candleflow.managers import fill, rollup_sql, sessions

log = logging.getLogger(__name__)

DEFAULT_TIMEFRAMES: tuple[str, ...] = ("1m", "5m", "15m", "1h", "1d")
DEFAULT_LOOKBACK = dt.timedelta(days=1)
_LOCK_KEY = 7_214_002  # the rollup's advisory lock (the migration runner uses 7_214_001)
_NO_MARKS = (
    "SELECT NULL::int AS instrument_id, NULL::text AS timeframe,"
    " NULL::timestamptz AS bucket WHERE false"
)


@dataclass
class RollupResult:
    """What one rollup did, per timeframe: bars built, inserted, updated (rest unchanged)."""

    built: dict[str, int] = field(default_factory=dict)
    inserted: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    filled: dict[str, int] = field(default_factory=dict)
    duration_s: float = 0.0

    @property
    def changed(self) -> int:
        return sum(self.inserted.values()) + sum(self.updated.values())


class BarManager:
    """Build time bars from ``candleflow.ticks`` into ``candleflow.bars`` (source rollup).

    ``fill=True`` also stores a flat bar (open = high = low = close = previous close,
    volume 0, ``filled = true``) for every empty intraday interval between two real bars.
    ``lookback`` is how far behind the rollup watermark a late tick may still revise bars;
    older ticks are rejected as ``late`` by the tick import and the collector.
    """

    def __init__(
        self,
        timeframes: Iterable[str | Timeframe] = DEFAULT_TIMEFRAMES,
        *,
        fill: bool = False,
        lookback: dt.timedelta = DEFAULT_LOOKBACK,
    ) -> None:
        tfs = sorted({Timeframe.parse(tf) for tf in timeframes}, key=lambda tf: tf.delta)
        bad = [tf.name for tf in tfs if tf.minutes is None or tf.minutes > 1440]
        if bad:
            raise ValueError(f"rollup timeframes {bad} not supported; expected 1m..1d")
        if lookback < dt.timedelta(0):
            raise ValueError(f"lookback must be >= 0, got {lookback}")
        if Timeframe.parse("1m") not in tfs:
            tfs.insert(0, Timeframe.parse("1m"))  # every level is built from the 1m bars
        self.timeframes: tuple[Timeframe, ...] = tuple(tfs)
        self.fill = fill
        self.lookback = lookback
        self.parents = {tf.name: self._parent(tf).name for tf in tfs[1:]}

    def _parent(self, tf: Timeframe) -> Timeframe:
        if tf.name == "1d":
            return Timeframe.parse("1m")  # sessions do not align with intraday buckets
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
        ids = list(instrument_ids) if instrument_ids is not None else None
        params = {"now": now, "ids": ids, "run_id": run_id}
        result = RollupResult()
        began = time.perf_counter()
        with conn, conn.cursor() as cur:
            # Two rollups at once would each take half of the dirty minutes and then race
            # on the shared higher-timeframe buckets; the second one waits instead.
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            cur.execute("SET LOCAL jit = off")  # compiling costs more than these queries
            self._load_sessions(cur)
            cur.execute(rollup_sql.CHANGED_TABLE)
            cur.execute(rollup_sql.TAKE_MINUTES, params)
            cur.execute(rollup_sql.MANY_BARS_STORED)
            # a small share of the table: index range scans (see rollup_sql.TICKS_BY_INDEX)
            source = rollup_sql.TICKS_BY_INDEX if cur.fetchone()[0] else None
            cur.execute(
                rollup_sql.BUILD_MINUTE_BARS.replace(
                    "/*TICKS*/", source or rollup_sql.TICKS_BY_SCAN
                ),
                params,
            )
            self._store(cur, "1m", params, result)
            cur.execute(rollup_sql.ADVANCE_WATERMARK, params)
            cur.execute("DROP TABLE _rollup_minutes, _rollup_ranges")
            for tf in self.timeframes[1:]:
                if tf.name == "1d":
                    cur.execute(sessions.BUILD_DAILY_BARS, params)
                else:
                    step = dt.timedelta(minutes=tf.minutes)
                    cur.execute(
                        rollup_sql.BUILD_INTRADAY_BARS,
                        {**params, "tf": tf.name, "step": step, "parent": self.parents[tf.name]},
                    )
                self._store(cur, tf.name, params, result)
            if self.fill:
                for tf in self.timeframes:
                    if tf.intraday:
                        result.filled[tf.name] = fill.fill_gaps(cur, tf, run_id=run_id, now=now)
        result.duration_s = time.perf_counter() - began
        log.info(
            "rollup %s: built %s, inserted %s, updated %s in %.3fs",
            run_id,
            result.built,
            result.inserted,
            result.updated,
            result.duration_s,
        )
        return result

    def _store(self, cur, tf: str, params: dict, result: RollupResult) -> None:
        """Upsert ``_rollup_bars`` as ``tf`` bars, mark the child buckets, drop the table."""
        marks, mark_params = [], {}
        for i, child in enumerate(self.children(tf)):
            if child.name == "1d":
                marks.append(sessions.MARK_DAILY)
                continue
            marks.append(
                rollup_sql.MARK_INTRADAY.replace("%s::text", f"%(child_tf_{i})s::text").replace(
                    "%s::interval", f"%(child_step_{i})s::interval"
                )
            )
            mark_params[f"child_tf_{i}"] = child.name
            mark_params[f"child_step_{i}"] = dt.timedelta(minutes=child.minutes)
        query = rollup_sql.UPSERT_BARS.format(marks=" UNION ALL ".join(marks) or _NO_MARKS)
        cur.execute(query, {**params, **mark_params, "tf": tf})
        built, inserted, updated = cur.fetchone()
        cur.execute("DROP TABLE _rollup_bars")
        result.built[tf], result.inserted[tf], result.updated[tf] = built, inserted, updated
        log.debug("rollup %s: %d built, %d inserted, %d updated", tf, built, inserted, updated)

    def _load_sessions(self, cur) -> None:
        """``_rollup_sessions``: the daily-bar session of each instrument with dirty marks."""
        cur.execute(sessions.SESSIONS_TABLE)
        cur.execute(
            "SELECT i.id, i.timezone, i.session FROM candleflow.instruments i WHERE EXISTS"
            " (SELECT 1 FROM candleflow.rollup_dirty d WHERE d.instrument_id = i.id)"
        )
        rows = []
        for instrument_id, tz, session in cur.fetchall():
            spec = sessions.parse_session(session, tz)
            rows.append((instrument_id, spec.timezone, spec.open_offset, spec.length))
        if rows:
            execute_values(cur, "INSERT INTO _rollup_sessions VALUES %s", rows)

    def mark_window(
        self, conn, instrument_ids: Sequence[int], start: dt.datetime, end: dt.datetime
    ) -> None:
        """Mark every minute with ticks in ``[start, end)`` dirty: the next rollup rebuilds
        it (after a code fix, say); idempotence makes that safe. Caller's transaction."""
        with conn.cursor() as cur:
            cur.execute(
                rollup_sql.MARK_WINDOW, {"ids": list(instrument_ids), "start": start, "end": end}
            )
            log.info("marked %d minutes dirty in [%s, %s)", cur.rowcount, start, end)
