"""The ``market`` quote peer: one market per symbol for the whole replay server.

Without it every connection replays its own tick stream from the same start, which no real
server does. With ``?scenario=market`` the server behaves as TradingView's quote sessions do:
a symbol's trades happen once, for everybody; a new subscription first gets a snapshot of
the symbol's *last trade* (re-sent on every subscription, however often the client
reconnects or restarts), then every trade after it. Two collectors subscribed at once see
the same trades; two runs back to back see the last trade of the first run again as the
snapshot of the second.

The market moves only while someone pulls trades (each trade is made when the first
subscriber asks for it), so a test that hands a symbol from one collector to the next
misses none of its trades and can compare the rolled-up bars with ``Market.trades``, the
peer's own record of every trade it made: (lp_time, price, cumulative volume).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from candleflow.testing.quotes import TickStream

_ids = itertools.count(1)


class Market:
    """One symbol's trade history on one server, read by any number of subscribers."""

    def __init__(self, stream: TickStream) -> None:
        self.stream = stream
        opening = stream.snapshot(["lp", "lp_time", "volume"])
        #: the state before the first trade (the first subscription's snapshot)
        self.opening = (opening["lp_time"], opening["lp"], opening["volume"])
        self.rows: list[dict[str, Any]] = []  # every trade made, oldest first
        self._cursors: dict[int, int] = {}
        self._ends: dict[int, int | None] = {}

    @property
    def trades(self) -> list[tuple[int, float, float]]:
        return [(r["lp_time"], r["lp"], r["volume"]) for r in self.rows]

    def subscribe(
        self, qs: str, fields: list[str] | None, trades: int = 0
    ) -> tuple[dict[str, Any], Feed]:
        """The snapshot a new subscription gets (the last trade) and its feed of what follows
        (``trades`` of them, then none; 0: no end)."""
        sub = next(_ids)
        self._cursors[sub] = len(self.rows)
        self._ends[sub] = len(self.rows) + trades if trades > 0 else None
        return self.stream.snapshot(fields), Feed(self, sub, qs)

    def take(self, sub: int, count: int) -> list[dict[str, Any]]:
        """The subscriber's next ``count`` trades, made now if nobody has asked for them yet."""
        start = self._cursors[sub]
        end = self._ends[sub]
        if end is not None:
            count = max(0, min(count, end - start))
        missing = start + count - len(self.rows)
        if missing > 0:
            self.rows += self.stream.next_rows(missing)
        self._cursors[sub] = start + count
        return self.rows[start : start + count]


class Feed:
    """What one subscription reads: quacks like ``TickStream.next_payloads``."""

    def __init__(self, market: Market, sub: int, qs: str) -> None:
        self.market, self.sub, self.qs = market, sub, qs

    def next_payloads(self, count: int, fields: list[str] | None) -> list[str]:
        return self.market.stream.payloads(self.qs, self.market.take(self.sub, count), fields)


def market(state: Any, key: str, make: Callable[[], TickStream]) -> Market:
    """The server's market of ``key``, made on first use (kept on the server state)."""
    markets: dict[str, Market] = state.__dict__.setdefault("markets", {})
    if key not in markets:
        markets[key] = Market(make())
    return markets[key]
