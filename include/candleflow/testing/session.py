"""One websocket connection to the replay server: hello, heartbeats, auth and dispatch.

The connection sends the hello object first (protocol doc 1.3), then a heartbeat
``~h~<n>`` every ``heartbeat`` seconds; a client that does not echo it within
``heartbeat_timeout`` seconds is closed with code 1000 ("heartbeat timeout"), as
TradingView drops clients that stop echoing (doc 2.3). Client messages are dispatched by
method name to the chart or quote handler; unknown methods are recorded and ignored, as
the real server does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from websockets.exceptions import ConnectionClosed

from candleflow.errors import ProtocolError
from candleflow.providers.tradingview.protocol import (
    frame,
    is_heartbeat,
    message,
    parse_payload,
    split_frame,
)
from candleflow.testing.chart import NODE, ChartHandler
from candleflow.testing.quote_session import QuoteHandler

if TYPE_CHECKING:
    from websockets.asyncio.server import ServerConnection

    from candleflow.testing.replay_state import ConnectionRecord, ServerState
    from candleflow.testing.scenarios import ConnectionOptions

log = logging.getLogger(__name__)

ANONYMOUS_TOKEN = "unauthorized_user_token"  # noqa: S105 - the public anonymous marker
_IGNORED = frozenset({"set_locale", "set_data_quality", "request_more_tickmarks"})


def hello(now: float) -> dict[str, Any]:
    """The first server message: the nine keys of the 2024-2025 captures (doc 1.3)."""
    return {
        "session_id": f"0.0.0_{NODE}",
        "timestamp": int(now),
        "timestampMs": int(now * 1000),
        "release": "release_replay-1",
        "studies_metadata_hash": "0" * 40,
        "auth_scheme_vsn": 2,
        "protocol": "json",
        "via": "127.0.0.1:0",
        "javastudies": ["3.66"],
    }


class ClientConnection:
    """Protocol state of one client; the handlers call ``send``, ``msg``, ``now``, ``abort``."""

    def __init__(
        self,
        ws: ServerConnection,
        state: ServerState,
        options: ConnectionOptions,
        record: ConnectionRecord,
    ) -> None:
        self.ws, self.state, self.options, self.record = ws, state, options, record
        self.chart = ChartHandler(self)
        self.quotes = QuoteHandler(self)
        self._echoed = asyncio.Event()
        self._pending_heartbeat = ""

    def now(self) -> int:
        return int(self.state.now())

    def msg(self, method: str, *params: Any, ts: bool = False) -> str:
        """A framed server message, non-ASCII kept raw; ``ts`` adds ``t`` and ``t_ms``."""
        extra: dict[str, Any] = {}
        if ts:
            now = self.state.now()
            extra = {"t": int(now), "t_ms": int(now * 1000)}
        return message(method, *params, ensure_ascii=False, **extra)

    async def send(self, *framed: str) -> None:
        """Send already framed envelopes as one websocket frame (after the ``slow`` delay)."""
        if self.options.scenario == "slow":
            await asyncio.sleep(self.options.delay)
        await self.send_raw("".join(framed))

    async def send_raw(self, text: str) -> None:
        self.record.frames_sent += 1
        await self.ws.send(text)

    def abort(self, reason: str) -> None:
        """Drop the TCP connection without a close frame (the client sees code 1006)."""
        self.record.closed = reason
        self.ws.transport.abort()

    async def run(self) -> None:
        await self.send_raw(frame(hello(self.state.now()), ensure_ascii=False))
        beat = asyncio.create_task(self._heartbeats())
        try:
            async for data in self.ws:
                text = data.decode() if isinstance(data, bytes) else data
                await self._on_frame(text)
        except ConnectionClosed as exc:
            log.debug("connection %d closed: %s", self.record.id, exc)
        finally:
            beat.cancel()
            self.quotes.stop()
            self.record.closed = self.record.closed or "client closed"

    async def _on_frame(self, text: str) -> None:
        try:
            payloads = split_frame(text)
        except ProtocolError as exc:
            log.warning("connection %d sent a malformed frame: %s", self.record.id, exc)
            self.record.malformed += 1
            return
        for payload in payloads:
            if is_heartbeat(payload):
                self.record.heartbeats_echoed += 1
                if payload == self._pending_heartbeat:
                    self._echoed.set()
                continue
            try:
                msg = parse_payload(payload)
            except ProtocolError as exc:
                log.warning("connection %d sent a bad payload: %s", self.record.id, exc)
                self.record.malformed += 1
                continue
            await self._dispatch(str(msg.get("m", "")), msg.get("p") or [])

    async def _dispatch(self, method: str, params: list[Any]) -> None:
        token_given = method == "set_auth_token" and params and params[0] != ANONYMOUS_TOKEN
        self.record.requests.append((method, ["<token>"] if token_given else params))
        if self.options.scenario == "heartbeats_only" or method in _IGNORED:
            return
        if method == "set_auth_token":
            if token_given and self.options.scenario == "bad_token":
                await self.send(message("protocol_error", "bad auth token"))
                self.record.closed = "bad auth token"
                await self.ws.close(1000, "bad auth token")
            return
        handler = getattr(self.chart, method, None) or getattr(self.quotes, method, None)
        if handler is None or method.startswith("_"):
            log.debug("connection %d: ignoring %s", self.record.id, method)
            return
        try:
            await handler(*params)
        except (TypeError, ValueError, IndexError) as exc:
            log.warning("connection %d: bad %s %r: %s", self.record.id, method, params, exc)
            session = params[0] if params and isinstance(params[0], str) else ""
            info = f'method: {method}. args: "{params}"'
            await self.send(self.msg("critical_error", session, "invalid parameters", info))

    async def _heartbeats(self) -> None:
        try:
            await self._heartbeat_loop()
        except ConnectionClosed:
            return

    async def _heartbeat_loop(self) -> None:
        n = 0
        while True:
            await asyncio.sleep(self.options.heartbeat)
            n += 1
            self._pending_heartbeat = f"~h~{n}"
            self._echoed.clear()
            await self.send_raw(frame(self._pending_heartbeat))
            self.record.heartbeats_sent += 1
            started = time.monotonic()
            try:
                await asyncio.wait_for(self._echoed.wait(), self.options.heartbeat_timeout)
            except TimeoutError:
                waited = time.monotonic() - started
                log.info(
                    "connection %d: no heartbeat echo in %.1fs, closing", self.record.id, waited
                )
                self.record.closed = "heartbeat timeout"
                await self.ws.close(1000, "heartbeat timeout")
                return
