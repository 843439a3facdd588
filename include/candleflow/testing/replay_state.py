"""What a replay server remembers: the settings its connections share and what it saw.

Why apart from the server: ``ServerState`` is what every connection's handlers read (the
seed, the bar cap, one-shot faults) and ``ServerStats``/``ConnectionRecord`` are what tests
read back; neither needs the asyncio server that owns them.
"""

from __future__ import annotations

import collections
import dataclasses
import time
from typing import Any

from candleflow.testing import universe
from candleflow.testing.lean_aapl import LeanHistory
from candleflow.testing.scenarios import ConnectionOptions
from candleflow.testing.synthetic import SymbolSpec, spec


@dataclasses.dataclass(slots=True)
class ConnectionRecord:
    """What one connection did; tokens other than the anonymous one are recorded as <token>."""

    id: int
    path: str
    query: dict[str, str]
    scenario: str | None
    headers: dict[str, str]
    requests: list[tuple[str, list[Any]]] = dataclasses.field(default_factory=list)
    frames_sent: int = 0
    heartbeats_sent: int = 0
    heartbeats_echoed: int = 0
    ticks_sent: int = 0
    bars_sent: int = 0  # history bars put on the wire (the measure of paging cost)
    malformed: int = 0
    closed: str | None = None

    def methods(self) -> list[str]:
        return [method for method, _ in self.requests]


@dataclasses.dataclass(slots=True)
class ServerStats:
    """Every handshake the server saw: accepted connections and rejected (429/4xx) ones."""

    connections: list[ConnectionRecord] = dataclasses.field(default_factory=list)
    rejected: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    @property
    def methods(self) -> collections.Counter[str]:
        """How often each client method arrived, over all connections."""
        return collections.Counter(m for c in list(self.connections) for m in c.methods())

    @property
    def ticks_sent(self) -> int:
        return sum(c.ticks_sent for c in list(self.connections))

    @property
    def bars_sent(self) -> int:
        """History bars sent over all connections: what a client's paging cost the server."""
        return sum(c.bars_sent for c in list(self.connections))


class ServerState:
    """Settings and memory shared by all connections of one server."""

    def __init__(
        self,
        *,
        seed: int,
        bar_cap: int,
        options: ConnectionOptions,
        now: float | None,
        any_symbol: bool = False,
        history: LeanHistory | None = None,
    ) -> None:
        self.seed, self.bar_cap, self.options, self.fixed_now = seed, bar_cap, options, now
        self.any_symbol = any_symbol
        self.history = history  # the lean-aapl scenario's real daily bars, else None
        # Quotes from the market peer whatever a connection's scenario: the soak injects
        # bar faults while its tick oracle stays one market per symbol (testing.soak).
        self.market_quotes = False
        self.stats = ServerStats()
        self._once: set[tuple[str, str]] = set()
        self._rejections: collections.Counter[str] = collections.Counter()

    def now(self) -> float:
        return self.fixed_now if self.fixed_now is not None else time.time()

    def spec(self, symbol: str) -> SymbolSpec | None:
        """How the server trades ``symbol``, or None when it answers as for an unknown one."""
        if not (self.any_symbol or universe.knows(symbol)):
            return None
        return spec(symbol)

    def claim_once(self, fault: str, key: str) -> bool:
        """True the first time a one-shot fault fires for ``key`` on this server."""
        if (fault, key) in self._once:
            return False
        self._once.add((fault, key))
        return True

    def should_reject(self, options: ConnectionOptions) -> bool:
        if options.scenario != "http_429":
            return False
        self._rejections["http_429"] += 1
        return self._rejections["http_429"] <= options.reject
