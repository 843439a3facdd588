"""One chart session on a shared ``Connection``: what it sends and how it reads replies.

A socket carries many sessions (history fetches one after another, the quote stream on a
socket of its own), so a session keeps only the messages whose first parameter is its own
``cs_`` id. Replies to one session arrive in any order; an error reply raises at once
instead of waiting for a ``series_completed`` that never comes (``symbol_error``).
"""

from __future__ import annotations

import json
import logging
import secrets
import string
import time
from typing import Any

from candleflow.errors import ProviderDisconnected, ProviderError, SymbolNotFound
from candleflow.providers.tradingview.bars import BarStore
from candleflow.providers.tradingview.client import Connection

log = logging.getLogger(__name__)

SYMBOL_ALIAS = "sds_sym_1"
SERIES_ID = "sds_1"
_ALPHABET = string.ascii_letters + string.digits


def session_id(prefix: str) -> str:
    """``cs_``/``qs_`` plus 12 random characters, as the browser names its sessions."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(12))


# What bars are fetched as: raw, as traded. Splits and dividends are stored apart and applied
# on read (candleflow.adjustments); TradingView's adjusted series ("splits", "dividends") are
# asked for only to derive those actions (``actions``).
RAW = "none"
DESCRIPTOR_ADJUSTMENTS = ("none", "splits", "dividends")


def symbol_key(symbol: str, adjustment: str = RAW, session: str = "regular") -> str:
    """The ``=``-prefixed JSON symbol object of ``resolve_symbol`` (JSON encoded twice).

    ``session`` ``extended`` asks for the extended-hours series (pre- and post-market bars),
    a series of its own that Candleflow stores apart from the regular one."""
    if adjustment not in DESCRIPTOR_ADJUSTMENTS:
        raise ValueError(
            f"bad adjustment {adjustment!r}; expected one of {', '.join(DESCRIPTOR_ADJUSTMENTS)}"
        )
    if session not in ("regular", "extended"):
        raise ValueError(f"bad session {session!r}; expected regular or extended")
    obj = {"adjustment": adjustment, "session": session, "symbol": symbol}
    return "=" + json.dumps(obj, separators=(",", ":"), ensure_ascii=True)


class ChartSession:
    """One chart session on ``conn``: filters the shared socket's messages to this session."""

    def __init__(
        self, conn: Connection, symbol: str, adjustment: str = RAW, session: str = "regular"
    ) -> None:
        self.conn = conn
        self.symbol = symbol
        self.adjustment = adjustment
        self.session = session
        self.cs = session_id("cs_")
        self.info: dict[str, Any] | None = None
        self.loads = 0  # series loads sent: the next turnaround is s<loads + 1>
        self._deadline = 0.0

    def open(self) -> None:
        self.conn.send("chart_create_session", self.cs, "")
        self.conn.send("switch_timezone", self.cs, "Etc/UTC")
        key = symbol_key(self.symbol, self.adjustment, self.session)
        self.conn.send("resolve_symbol", self.cs, SYMBOL_ALIAS, key)

    def load(self, resolution: str, count: int | str, range_: str = "") -> None:
        """``create_series`` the first time, ``modify_series`` (a new turnaround) after.

        ``range_`` is ``""`` or ``"r,<from>:<to>"`` (Unix seconds, both bar starts
        inclusive), sent in the 7th slot of ``create_series``/``modify_series``.
        """
        self.loads += 1
        method = "create_series" if self.loads == 1 else "modify_series"
        turnaround = f"s{self.loads}"
        self.conn.send(
            method, self.cs, SERIES_ID, turnaround, SYMBOL_ALIAS, resolution, count, range_
        )

    def more(self, n: int) -> None:
        """``request_more_data``: ``n`` bars older than the oldest the series holds."""
        self.conn.send("request_more_data", self.cs, SERIES_ID, n)

    def close(self) -> None:
        """Free the session so the socket can serve the next symbol (best effort)."""
        delete_session(self.conn, self.cs)

    def resolve(self) -> dict[str, Any]:
        """The ``symbol_resolved`` info; ``symbol_error`` raises at once."""
        self._touch()
        while self.info is None:
            self._next_batch(None)
        return self.info

    def wait_page(self, store: BarStore) -> list[float]:
        """Bar times delivered until ``series_completed`` (the page), merged into ``store``."""
        self._touch()
        page: list[float] = []
        timings = self.conn.timings

        def merge(bars: list[Any]) -> None:
            started = time.perf_counter()
            page.extend(store.add_series(bars))
            timings.bars_received += len(bars)
            timings.merge_s += time.perf_counter() - started

        done = False
        while not done:
            done = self._next_batch(merge)
        return page

    def _touch(self) -> None:
        self._deadline = time.monotonic() + self.conn.timeout

    def _next_batch(self, on_bars: Any) -> bool:
        """Handle one read; True when this session's series completed."""
        completed = False
        for msg in self.conn.read(self._deadline):
            params = msg.get("p") or []
            if not params or params[0] != self.cs:
                continue  # another session's (or a stale) message
            self._touch()
            completed |= self._handle(msg.get("m"), params, on_bars)
        return completed

    def _handle(self, method: Any, p: list[Any], on_bars: Any) -> bool:
        if method == "symbol_resolved" and len(p) > 2:
            self.info = p[2]
        elif method == "symbol_error":
            raise SymbolNotFound(self.symbol, reason=str(p[2]) if len(p) > 2 else None)
        elif method == "series_error":
            reason = str(p[3]) if len(p) > 3 else "unknown"
            raise ProviderError(f"series error for {self.symbol}: {reason}", reason=reason)
        elif method == "critical_error":
            reason = str(p[1]) if len(p) > 1 else "unknown"
            detail = p[2] if len(p) > 2 else ""
            raise ProviderError(
                f"critical error for {self.symbol}: {reason} {detail}", reason=reason
            )
        elif method in ("timescale_update", "du") and on_bars is not None and len(p) > 1:
            for series in (p[1] or {}).values():
                if isinstance(series, dict) and isinstance(series.get("s"), list):
                    on_bars(series["s"])
        elif method == "series_completed":
            return True
        return False


def delete_session(conn: Connection, cs: str) -> None:
    """``chart_delete_session``, best effort: a socket already gone has freed it anyway."""
    if conn.is_open:
        try:
            conn.send("chart_delete_session", cs)
        except ProviderDisconnected as exc:
            log.debug("chart session %s not deleted: %s", cs, exc)
