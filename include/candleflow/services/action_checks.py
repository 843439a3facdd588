"""When a sync asks its provider for corporate actions, and how their answer is stored.

Bars are loaded raw; the actions that adjust them on read come from the provider too
(``IDataProvider.fetch_actions``; TradingView derives them from its adjusted daily series).
Asking costs a request per instrument, so a chunk asks **at most once per instrument and
session**, and only for what it does not know yet (``corporate_action_checks`` keeps, per
instrument, the session dates whose actions are known):

- the first load of an instrument asks for the sessions from the window's start to the
  latest session that has begun (today's, once the market opened: TradingView's forming daily
  bar already shows an action whose ex-date is today);
- later loads ask only for the sessions since the last check, and for older sessions when a
  backfill reaches before the known span;
- an extended-hours series asks nothing: actions belong to the symbol, are kept with its
  regular series and apply to both on read;
- an instrument the provider adjusts nothing for (crypto: ``has_adjustment`` false) is
  remembered as such; one whose resolve just said so costs no request at all, and after
  ``RECHECK_NONE`` a resolve (no series) confirms it.

The answer rides with the instrument's first slice (``frame.attrs["corporate_actions"]``) and
is written with the check in a short transaction of its own just before that slice's
(``store_apart``): a load's long transaction must not hold what another timeframe's load of
the instrument needs (the check row, the series versions an action bumps). Nothing is lost
by the split: bars are raw, so actions and bars are right in either order. An action found
this way adjusts every stored bar of the instrument at once (adjustment is on read): no
re-fetch, no series half in one scale.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from candleflow.domain import Timeframe

if TYPE_CHECKING:
    from candleflow.providers import IDataProvider
    from candleflow.services.instruments import StoredInstrument

log = logging.getLogger(__name__)

RECHECK_NONE = dt.timedelta(days=7)
_CHECKS = """
SELECT instrument_id, provider, has_actions, checked_from, checked_through, checked_at,
       checked_close
FROM candleflow.corporate_action_checks WHERE instrument_id = ANY(%s)
"""


@dataclass(frozen=True, slots=True)
class Due:
    """Sessions ``first``..``last`` to ask about; ``known``: ``first`` and its raw close from
    the last check (the provider may just confirm nothing happened since); ``known_none``:
    the resolve already said the provider adjusts nothing for the instrument (record it, ask
    nothing); ``recheck_none``: it said so a while ago (a resolve asks again)."""

    first: dt.date
    last: dt.date
    known: tuple[dt.date, float] | None = None
    known_none: bool = False
    recheck_none: bool = False  # believed to have none: a resolve may confirm it


def plan(
    conn,
    provider: IDataProvider,
    found: dict[str, StoredInstrument],
    tf: Timeframe,
    start: dt.datetime,
    now: dt.datetime,
) -> dict[str, Due]:
    """The checks due for the instruments a chunk loads from ``start`` on (by symbol)."""
    from candleflow.providers import Capability

    if Capability.ACTIONS not in provider.capabilities or not found:
        return {}
    with conn, conn.cursor() as cur:
        cur.execute(_CHECKS, ([s.id for s in found.values()],))
        rows = {r[0]: r[1:] for r in cur.fetchall()}
    first = (start - (tf.delta if tf.intraday else dt.timedelta(days=31))).date()
    due, sessions = {}, {}
    for symbol, stored in found.items():
        if stored.instrument.series_session != "regular":
            continue  # actions are the symbol's: kept with (and read from) its regular series
        market = _market(stored.instrument)
        if market not in sessions:  # one calendar look-up per market, not per instrument
            sessions[market] = latest_session(market, now)
        latest, opened = sessions[market]
        span = _due(rows.get(stored.id), provider.name, first, latest, opened, now)
        if span is not None and stored.instrument.extra.get("has_adjustment") is False:
            span = Due(span.first, span.last, known_none=True)
        if span is not None:
            due[symbol] = span
    log.info("corporate actions: %d of %d instruments to check", len(due), len(found))
    return due


def _due(
    row: tuple | None, provider: str, first: dt.date, latest: dt.date, opened, now
) -> Due | None:
    """What to ask about (see the module docstring); ``opened``: when the latest session
    began. Sessions since the last check are asked about once per session, even when the
    provider has no bar for them yet (a halted symbol, a lagging feed)."""
    if row is None or row[0] != provider:
        return Due(min(first, latest), latest)
    _, has_actions, known_from, known_through, checked_at, close = row
    if not has_actions:
        due = now - checked_at > RECHECK_NONE
        return Due(min(first, latest), latest, recheck_none=True) if due else None
    older = first < known_from
    newer = known_through < latest and checked_at < opened
    if not (older or newer):
        return None
    if older:
        return Due(first, latest if newer else known_from)
    return Due(known_through, latest, None if close is None else (known_through, close))


def _market(instrument: Any) -> Any:
    from candleflow import calendars

    market = calendars.Market.of(instrument.symbol, timezone=instrument.timezone or None)
    return calendars.Market("", market.timezone, market.calendar)  # one per calendar and zone


def latest_session(market: Any, now: dt.datetime) -> tuple[dt.date, dt.datetime]:
    """The date of the newest session of ``market`` that has begun by ``now`` and when it
    began (the UTC day for 24x7 markets)."""
    import pandas as pd

    from candleflow import calendars

    midnight = dt.datetime.combine(now.date(), dt.time(), dt.UTC)
    if market.calendar is None:
        return now.date(), midnight
    stamp = pd.Timestamp(now)
    sched = calendars.schedule(market, stamp - pd.Timedelta(days=10), stamp)
    begun = sched[sched["open"] <= stamp]
    if not len(begun):
        return now.date(), midnight
    return begun.index[-1].date(), begun["open"].iloc[-1].to_pydatetime()


def fetch(provider: IDataProvider, symbol: str, due: Due, now: dt.datetime) -> Any:
    """The provider's answer for ``due`` (a frame with ``attrs``), or the resolve's."""
    from candleflow.providers import Capability

    if due.recheck_none and Capability.RESOLVE in provider.capabilities:
        resolved = provider.resolve(symbol)  # one round trip, no series
        due = Due(due.first, due.last, known_none=resolved.extra.get("has_adjustment") is False)
    if due.known_none:
        from candleflow.adjustments import empty_actions

        frame = empty_actions()
        frame.attrs.update(has_actions=False, first=due.first, last=due.first)
    else:
        frame = provider.fetch_actions(symbol, due.first, due.last, known=due.known)
    frame.attrs["asked_from"] = due.first  # no session before the first compared: none known
    frame.attrs["checked_at"] = now  # the run's clock, which the next plan compares with
    return frame


def store_apart(
    conn, instrument_id: int, instrument: Any, bars: Any, *, provider: str, run_id: str
) -> int:
    """``store`` in a transaction of its own (committed here), when the slice carries a check."""
    if bars.attrs.get("corporate_actions") is None:
        return 0
    with conn:
        return store(conn, instrument_id, instrument, bars, provider=provider, run_id=run_id)


def store(
    conn, instrument_id: int, instrument: Any, bars: Any, *, provider: str, run_id: str
) -> int:
    """Write the actions a slice carries (and the check) in the caller's transaction; how
    many actions it inserted, changed or removed.

    The check is recorded through the last **closed** session it saw, with that session's
    raw close: a forming session's close still moves, and the next check compares with it.
    """
    from candleflow.db.actions import record_check, upsert_actions

    found = bars.attrs.get("corporate_actions")
    if found is None:
        return 0
    has, first, last = found.attrs["has_actions"], found.attrs["first"], found.attrs["last"]
    changed = 0
    if has and not found.attrs.get("confirmed"):  # confirmed: nothing happened, nothing to write
        span = (first + dt.timedelta(days=1), last)  # ex-dates the sessions compared can show
        counts = upsert_actions(
            conn, instrument_id, found, source=provider, run_id=run_id, replace=span
        )
        changed = counts.changed
    known_from = min(found.attrs.get("asked_from", first), first)
    checked_at = found.attrs.get("checked_at") or dt.datetime.now(dt.UTC)
    through, close = _last_closed(instrument, found.attrs.get("closes") or [], checked_at)
    through = max(known_from, through or known_from)
    record_check(
        conn, instrument_id, provider=provider, has_actions=has, first=known_from,
        last=through, close=close, run_id=run_id, checked_at=checked_at,
    )  # fmt: skip
    return changed


def _last_closed(instrument: Any, closes: list, now: dt.datetime) -> tuple[Any, Any]:
    """The newest ``(date, raw close)`` of ``closes`` whose session had closed by ``now``."""
    import numpy as np

    from candleflow import calendars

    market = _market(instrument)
    zone = ZoneInfo(market.timezone)
    stamp = round(now.timestamp() * 1e6)
    for day, close in reversed(closes):
        midnight = dt.datetime.combine(day, dt.time(), zone)
        start = round(midnight.timestamp() * 1e6)
        end = round((midnight + dt.timedelta(days=1)).timestamp() * 1e6)
        if market.calendar is None:
            ended = end
        else:  # the session opening on that local date (its close may be past midnight)
            opens, ends = calendars.session_bounds(market.calendar)
            i = int(np.searchsorted(opens, start))
            ended = int(ends[i]) if i < len(opens) and opens[i] < end else end
        if ended <= stamp:
            return day, close
    return None, None
