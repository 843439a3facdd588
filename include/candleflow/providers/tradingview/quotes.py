"""Quote session: live ``Tick``s from ``qsd`` snapshots and deltas, across reconnects.

The first ``qsd`` per symbol is a snapshot, later ones carry only changed fields, so each
symbol's state is the merge of everything received. A tick is the
merged state after an update, emitted when its *key* changes:

    key = (lp_time, lp, volume, bid, ask)

Why this key: a bid/ask-only update changes the key and still yields a ``Tick`` (same
``ts``, price and ``day_volume``; consumers such as ``BarManager`` see that ``day_volume``
did not grow and decide it is not a trade), while deltas of other fields (``ch``, ``chp``,
session flags) yield nothing. After a reconnect the server re-sends a snapshot of the state
we already emitted; its key is in the per-symbol set of recently emitted keys, so it is
dropped and no tick is duplicated. ``seq`` increases per symbol over this stream, in the
order the server sent the ticks; it lives as long as the process. The key a tick is stored
under, which must survive processes (the next capture run, a retry), is given by the
collector from the warehouse (``candleflow.services.ticks.identity``), in this same order.

Two ways to consume it: ``iter(stream)`` yields ``Tick``s; ``stream.batches()`` yields, per
socket frame, a list of plain ``TickRow`` tuples. The rows exist for the collector, which
reads tens of thousands of ticks per second: a tuple per tick and one list per frame cost
a fraction of a ``Tick`` dataclass with its ``datetime`` each (the ticks are the same).

The stream owns its own socket: it blocks for as long as the caller iterates, and history
fetches on the provider's shared socket must not wait behind it.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from candleflow.domain import UTC, Tick
from candleflow.errors import (
    ProtocolError,
    ProviderError,
    ProviderTimeout,
    SymbolNotFound,
    TransientError,
)
from candleflow.providers.tradingview.bars import NO_VALUE
from candleflow.providers.tradingview.client import Connection
from candleflow.providers.tradingview.history import session_id
from candleflow.providers.tradingview.retry import RetryPolicy

log = logging.getLogger(__name__)

FIELDS = (
    "lp",
    "lp_time",
    "volume",
    "bid",
    "ask",
    "bid_size",
    "ask_size",
    "ch",
    "chp",
    "update_mode",
    "current_session",
    "description",
    "exchange",
    "type",
    "currency_code",
)
RECENT_KEYS = 4096  # per symbol; how far back a replayed state is still recognised
POLL_S = 0.2  # how often ``stop`` is checked while the socket is quiet
STABLE_S = 30.0  # a connection up this long is healthy again: the reconnect backoff resets

#: A ``Tick``'s fields in order, ``ts`` as unix seconds; ``None`` = no value
TickRow = tuple[str, float, float | None, None, float | None, float | None, float | None, int]


def _number(x: Any) -> float | None:
    """A quote number, or None for null, NaN and the 1e+100 "no value" sentinel."""
    if x is None:
        return None
    x = float(x)
    return x if -NO_VALUE < x < NO_VALUE else None  # NaN fails both comparisons


def to_tick(row: TickRow) -> Tick:
    return Tick(row[0], dt.datetime.fromtimestamp(row[1], tz=UTC), *row[2:])


class QuoteStream:
    """Iterate to receive ticks for ``symbols`` until ``stop`` is set."""

    def __init__(
        self,
        connect: Callable[[], Connection],
        symbols: list[str],
        stop: threading.Event,
        *,
        retry: RetryPolicy,
        silence_s: float,
    ) -> None:
        self._connect = connect
        self.symbols = list(dict.fromkeys(symbols))
        self.stop = stop
        self.retry = retry
        self.silence_s = silence_s  # no frame at all (not even a heartbeat) for this long
        self._state: dict[str, dict[str, Any]] = {}
        self._recent: dict[str, deque[tuple[Any, ...]]] = {s: deque() for s in self.symbols}
        self._seen: dict[str, set[tuple[Any, ...]]] = {s: set() for s in self.symbols}
        self._seq: dict[str, int] = dict.fromkeys(self.symbols, 0)
        self._failed: dict[str, str] = {}

    def __iter__(self) -> Iterator[Tick]:
        for batch in self.batches():
            yield from map(to_tick, batch)

    def batches(self) -> Iterator[list[TickRow]]:
        """The new ticks of each frame, in order; a frame read off the socket is handed over
        whole even when ``stop`` is set meanwhile, so no tick that was read is lost."""
        failures = 0
        conn: Connection | None = None
        connected_at = 0.0
        try:
            while not self.stop.is_set():
                try:
                    if conn is None:
                        conn = self._subscribe()
                        connected_at = time.monotonic()
                    batch = self._drain(conn)
                    if batch:
                        # The backoff starts over only once a connection has stayed up: a
                        # server that drops the socket after every tick must not get a
                        # reconnect storm (one tick per connection used to reset it).
                        if failures and time.monotonic() - connected_at >= STABLE_S:
                            failures = 0
                        yield batch
                except (TransientError, ProtocolError) as exc:  # as RetryPolicy.run retries
                    failures += 1
                    if conn is not None:
                        conn.close()
                        conn = None
                    wait = self.retry.wait(failures, getattr(exc, "retry_after", 0.0))
                    if wait is None:
                        log.error("quote stream gave up after %d attempts: %s", failures, exc)
                        raise
                    log.warning(
                        "quote stream interrupted (%s); reconnect %d/%d in %.2fs",
                        exc,
                        failures,
                        self.retry.attempts - 1,
                        wait,
                    )
                    self.stop.wait(wait)
        finally:
            if conn is not None:
                conn.close()

    def _subscribe(self) -> Connection:
        conn = self._connect()
        qs = session_id("qs_")
        active = [s for s in self.symbols if s not in self._failed]
        conn.send("quote_create_session", qs)
        conn.send("quote_set_fields", qs, *FIELDS)
        conn.send("quote_add_symbols", qs, *active)  # no force_permission flags (since 2024)
        conn.send("quote_fast_symbols", qs, *active)
        self._qs = qs
        self._state = {}  # the new session starts with a fresh snapshot
        self._snapshot_deadline = time.monotonic() + conn.timeout
        self._got_data = False
        log.info("quote stream subscribed %d symbols on %s", len(active), conn.url)
        return conn

    def _drain(self, conn: Connection) -> list[TickRow]:
        """Ticks from one poll of the socket; raises ``ProviderTimeout`` on silence."""
        msgs = conn.poll(POLL_S)
        now = time.monotonic()
        if not self._got_data and not msgs and now > self._snapshot_deadline:
            raise ProviderTimeout(f"no quote snapshot within {conn.timeout}s")
        if now - conn.last_activity > self.silence_s:
            raise ProviderTimeout(f"quote stream silent for {self.silence_s}s")
        rows: list[TickRow] = []
        qs, merge = self._qs, self._merge
        for msg in msgs:
            params = msg.get("p")
            if not params or params[0] != qs:
                continue
            method = msg.get("m")
            if method == "qsd" and len(params) > 1 and isinstance(params[1], dict):
                self._got_data = True
                row = merge(params[1])
                if row is not None:
                    rows.append(row)
            elif method == "critical_error":
                reason = str(params[1]) if len(params) > 1 else "unknown"
                raise ProviderError(f"quote session error: {reason}", reason=reason)
        return rows

    def _merge(self, data: dict[str, Any]) -> TickRow | None:
        symbol = data.get("n")
        seen = self._seen.get(symbol)  # type: ignore[arg-type]
        if seen is None:
            return None
        if data.get("s") != "ok":
            reason = str(data.get("errmsg") or data.get("v") or data.get("s"))
            self._failed[symbol] = reason
            log.error("quote stream: %s rejected by the server: %s", symbol, reason)
            if len(self._failed) == len(self.symbols):
                raise SymbolNotFound(symbol, reason=reason)
            return None
        state = self._state.get(symbol)
        if state is None:
            state = self._state[symbol] = {}
        delta = data.get("v")
        if delta:
            state.update(delta)
        get = state.get
        ts, price = _number(get("lp_time")), _number(get("lp"))
        if ts is None or price is None:
            return None  # no trade price (or time) yet: nothing a consumer can use
        key = (ts, price, _number(get("volume")), _number(get("bid")), _number(get("ask")))
        if key in seen:
            return None
        recent = self._recent[symbol]
        recent.append(key)
        seen.add(key)
        if len(recent) > RECENT_KEYS:
            seen.discard(recent.popleft())
        seq = self._seq[symbol] = self._seq[symbol] + 1
        # size None: TradingView sends no trade size; day_volume differences give it
        return (symbol, ts, price, None, key[2], key[3], key[4], seq)
