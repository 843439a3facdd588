"""Quote session: live ``Tick``s from ``qsd`` snapshots and deltas, across reconnects.

The first ``qsd`` per symbol is a snapshot, later ones carry only changed fields, so each
symbol's state is the merge of everything received (protocol notes 4.3). A tick is the
merged state after an update, emitted when its *key* changes:

    key = (lp_time, lp, volume, bid, ask)

Why this key: a bid/ask-only update changes the key and still yields a ``Tick`` (same
``ts``, price and ``day_volume``; consumers such as ``BarManager`` see that ``day_volume``
did not grow and decide it is not a trade), while deltas of other fields (``ch``, ``chp``,
session flags) yield nothing. After a reconnect the server re-sends a snapshot of the state
we already emitted; its key is in the per-symbol set of recently emitted keys, so it is
dropped and no tick is duplicated. ``seq`` increases per symbol over the whole stream.

The stream owns its own socket: it blocks for as long as the caller iterates, and history
fetches on the provider's shared socket must not wait behind it.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
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
from candleflow.providers.tradingview_bars import value
from candleflow.providers.tradingview_history import session_id
from candleflow.providers.tradingview_retry import RetryPolicy
from candleflow.providers.tradingview_ws import Connection

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
        failures = 0
        conn: Connection | None = None
        try:
            while not self.stop.is_set():
                try:
                    if conn is None:
                        conn = self._subscribe()
                    for tick in self._drain(conn):
                        failures = 0  # data flows again: the backoff starts over
                        if self.stop.is_set():
                            return
                        yield tick
                except (TransientError, ProtocolError) as exc:  # see RetryPolicy.run
                    failures += 1
                    if conn is not None:
                        conn.close()
                        conn = None
                    if failures >= self.retry.attempts:
                        log.error("quote stream gave up after %d attempts: %s", failures, exc)
                        raise
                    wait = self.retry.delay(failures)
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

    def _drain(self, conn: Connection) -> Iterator[Tick]:
        """Ticks from one poll of the socket; raises ``ProviderTimeout`` on silence."""
        msgs = conn.poll(POLL_S)
        now = time.monotonic()
        if not self._got_data and not msgs and now > self._snapshot_deadline:
            raise ProviderTimeout(f"no quote snapshot within {conn.timeout}s")
        if now - conn.last_activity > self.silence_s:
            raise ProviderTimeout(f"quote stream silent for {self.silence_s}s")
        for msg in msgs:
            params = msg.get("p") or []
            if not params or params[0] != self._qs:
                continue
            method = msg.get("m")
            if method == "critical_error":
                reason = str(params[1]) if len(params) > 1 else "unknown"
                raise ProviderError(f"quote session error: {reason}", reason=reason)
            if method == "qsd" and len(params) > 1 and isinstance(params[1], dict):
                self._got_data = True
                tick = self._merge(params[1])
                if tick is not None:
                    yield tick

    def _merge(self, data: dict[str, Any]) -> Tick | None:
        symbol = data.get("n")
        if symbol not in self._seq:
            return None
        if data.get("s") != "ok":
            reason = str(data.get("errmsg") or data.get("v") or data.get("s"))
            self._failed[symbol] = reason
            log.error("quote stream: %s rejected by the server: %s", symbol, reason)
            if len(self._failed) == len(self.symbols):
                raise SymbolNotFound(symbol, reason=reason)
            return None
        state = self._state.setdefault(symbol, {})
        state.update(data.get("v") or {})
        if state.get("lp") is None or state.get("lp_time") is None:
            return None  # no trade price yet: nothing a consumer can use
        numbers = (value(state.get(f)) for f in ("lp_time", "lp", "volume", "bid", "ask"))
        key = tuple(None if math.isnan(x) else x for x in numbers)  # NaN != NaN in a set
        if key in self._seen[symbol]:
            return None
        self._remember(symbol, key)
        self._seq[symbol] += 1
        return Tick(
            symbol=symbol,
            ts=dt.datetime.fromtimestamp(float(state["lp_time"]), tz=UTC),
            price=key[1],
            size=None,  # TradingView sends no trade size; day_volume differences give it
            day_volume=key[2],
            bid=key[3],
            ask=key[4],
            seq=self._seq[symbol],
        )

    def _remember(self, symbol: str, key: tuple[Any, ...]) -> None:
        recent, seen = self._recent[symbol], self._seen[symbol]
        recent.append(key)
        seen.add(key)
        if len(recent) > RECENT_KEYS:
            seen.discard(recent.popleft())
