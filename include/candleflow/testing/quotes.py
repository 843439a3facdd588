"""Deterministic quote ticks for the replay server's quote sessions.

Tick ``k`` of a stream happens at virtual time ``t0 + k * step`` and its last price is the
same synthetic path the bars use (``synthetic.price_at``), so ticks and bars agree. The
cumulative ``volume`` rises with every tick and restarts at each session boundary
(midnight UTC for 24x7 symbols, midnight New York for XNYS ones), as TradingView's
``qsd.volume`` does (protocol doc 4.4). Symbols without volume report the ``1e+100``
"no value" sentinel in the snapshot and leave ``volume`` out of the deltas.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from candleflow.testing import catalogue
from candleflow.testing.synthetic import SymbolSpec, hash_key, price_at, uniform

NO_VALUE = 1e100
DELTA_FIELDS = ("lp", "lp_time", "volume", "ch", "chp", "bid", "ask")
_NEW_YORK = ZoneInfo("America/New_York")


def session_start(sym: SymbolSpec, t: float) -> int:
    """Unix seconds of the midnight (exchange time) that starts the session holding ``t``."""
    if sym.calendar == "24x7":
        return int(t // 86_400 * 86_400)
    local = dt.datetime.fromtimestamp(t, _NEW_YORK)
    return int(local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp())


def _next_session(sym: SymbolSpec, t: float) -> int:
    start = session_start(sym, t)
    return session_start(sym, start + 86_400 + 7_200)  # +2 h absorbs a DST change


class TickStream:
    """The tick sequence of one symbol in one quote session; ``next_payloads`` advances it."""

    def __init__(
        self, sym: SymbolSpec, *, qs: str, key: str, seed: int, t0: float, step: float
    ) -> None:
        self.sym, self.qs, self.seed, self.t0, self.step = sym, qs, seed, t0, step
        self.k = 0
        self.last: dict[str, Any] | None = None  # the values of the last tick sent
        self._n = json.dumps(key)
        self._tick = 1.0 / sym.pricescale
        self._rate = 12.0 / 60 if sym.calendar == "24x7" else 25_000.0 / 60
        self._size_key = hash_key(seed, sym.symbol, "ticks")
        self._set_session(t0)
        self.volume = round(self._rate * (t0 - self._session), 4)

    def _set_session(self, t: float) -> None:
        self._session = session_start(self.sym, t)
        self._next = _next_session(self.sym, t)
        prev = price_at(self.sym.symbol, np.array([self._session]), seed=self.seed)[0]
        self._prev_close = round(float(prev), 2)

    def snapshot(self, fields: list[str] | None) -> dict[str, Any]:
        """The first ``qsd`` values: the requested fields (all known ones if none were set).

        Before any tick, the state at ``t0``; after ticks, the last one (what TradingView
        re-sends to every new subscription: its last trade, see ``testing.market``)."""
        t = self.t0
        lp = round(float(price_at(self.sym.symbol, np.array([t]), seed=self.seed)[0]), 2)
        ch = round(lp - self._prev_close, 2)
        values: dict[str, Any] = {
            **catalogue.static_quote_fields(self.sym),
            "lp": lp,
            "lp_time": int(t),
            "ch": ch,
            "chp": round(ch / self._prev_close * 100, 2),
            "volume": self.volume if self.sym.has_volume else NO_VALUE,
            "bid": round(lp - self._tick, 2),
            "ask": round(lp + self._tick, 2),
            "bid_size": 1.0,
            "ask_size": 1.0,
            "prev_close_price": self._prev_close,
            **(self.last or {}),
        }
        if self.last and not self.sym.has_volume:
            values["volume"] = NO_VALUE
        if fields:
            values = {k: v for k, v in values.items() if k in fields}
        return values

    def next_payloads(self, count: int, fields: list[str] | None) -> list[str]:
        """The next ``count`` delta ``qsd`` payloads (unframed JSON text, ASCII)."""
        return self.payloads(self.qs, self.next_rows(count), fields)

    def payloads(self, qs: str, rows: list[dict[str, Any]], fields: list[str] | None) -> list[str]:
        """``rows`` (of ``next_rows``) as delta ``qsd`` payloads of quote session ``qs``."""
        wanted = [f for f in DELTA_FIELDS if not fields or f in fields]
        if not self.sym.has_volume and "volume" in wanted:
            wanted.remove("volume")
        head = f'{{"m":"qsd","p":["{qs}",{{"n":{self._n},"s":"ok","v":{{'
        return [head + ",".join(f'"{f}":{row[f]!r}' for f in wanted) + "}}]}" for row in rows]

    def next_rows(self, count: int) -> list[dict[str, Any]]:
        """The values of the next ``count`` ticks; ``volume`` is the cumulative session volume."""
        idx = np.arange(self.k + 1, self.k + 1 + count)
        self.k += count
        times = self.t0 + idx * self.step
        prices = np.round(price_at(self.sym.symbol, times, seed=self.seed), 2)
        sizes = np.round(self._rate * self.step * (0.2 + 1.6 * uniform(self._size_key, idx)), 4)
        out = []
        for t, lp, size in zip(times.tolist(), prices.tolist(), sizes.tolist(), strict=True):
            if t >= self._next:
                self._set_session(t)
                self.volume = 0.0
            self.volume = round(self.volume + size, 4)
            ch = round(lp - self._prev_close, 2)
            out.append(
                {
                    "lp": lp,
                    "lp_time": int(t),
                    "volume": self.volume,
                    "ch": ch,
                    "chp": round(ch / self._prev_close * 100, 2),
                    "bid": round(lp - self._tick, 2),
                    "ask": round(lp + self._tick, 2),
                }
            )
        if out:
            self.last = out[-1]
        return out
