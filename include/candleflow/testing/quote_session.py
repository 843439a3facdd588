"""The quote-session half of the replay server: ``qsd`` snapshots, then streamed deltas.

Per added symbol: one ``qsd`` snapshot of the requested fields and ``quote_completed`` in
one frame; then, every ``tick_interval`` seconds, ``ticks_per_frame`` delta ``qsd``
envelopes per symbol, all symbols of the connection batched into one frame. With
``tick_interval=0`` the stream runs as fast as the socket drains (tens of thousands of
ticks per second), which is the "fast mode" load tests use.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import TYPE_CHECKING, Any

from websockets.exceptions import ConnectionClosed

from candleflow.providers.tradingview.protocol import frame
from candleflow.testing import catalogue
from candleflow.testing.market import Feed, market
from candleflow.testing.quotes import TickStream

if TYPE_CHECKING:
    from candleflow.testing.session import ClientConnection

log = logging.getLogger(__name__)


@dataclasses.dataclass(slots=True)
class QuoteSession:
    fields: list[str] | None = None
    streams: dict[str, TickStream] = dataclasses.field(default_factory=dict)


class QuoteHandler:
    """Quote sessions of one connection and the task that streams their ticks."""

    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn
        self.sessions: dict[str, QuoteSession] = {}
        self._task: asyncio.Task[None] | None = None

    async def quote_create_session(self, qs: str, *_: Any) -> None:
        self.sessions.setdefault(qs, QuoteSession())

    async def quote_delete_session(self, qs: str, *_: Any) -> None:
        self.sessions.pop(qs, None)

    async def quote_set_fields(self, qs: str, *fields: Any) -> None:
        self.sessions.setdefault(qs, QuoteSession()).fields = [str(f) for f in fields]

    async def quote_fast_symbols(self, qs: str, *keys: Any) -> None:
        """Accepted and recorded; every symbol already streams at full speed here."""

    async def quote_hibernate_all(self, qs: str, *_: Any) -> None:
        """Accepted; the replay server keeps streaming."""

    async def quote_remove_symbols(self, qs: str, *keys: Any) -> None:
        session = self.sessions.get(qs)
        for key in keys:
            if session is not None:
                session.streams.pop(key, None)

    async def quote_add_symbols(self, qs: str, *keys: Any) -> None:
        if not all(isinstance(k, str) for k in keys):
            # The flags object clients sent before 2024 is rejected (protocol doc 4.1).
            error = self.conn.msg("critical_error", qs, "invalid_parameters", "quote_add_symbols")
            await self.conn.send(error)
            return
        session = self.sessions.setdefault(qs, QuoteSession())
        for key in keys:
            sym = self.conn.state.spec(catalogue.symbol_from_key(key))
            done = self.conn.msg("quote_completed", qs, key)
            if sym is None:
                bad = {"n": key, "s": "error", "errmsg": "invalid symbol", "v": {}}
                await self.conn.send(self.conn.msg("qsd", qs, bad), done)
                continue
            stream: TickStream | Feed = TickStream(
                sym,
                qs=qs,
                key=key,
                seed=self.conn.state.seed,
                t0=float(self.conn.now()),
                step=self.conn.options.virtual_tick_step,
            )
            if self.conn.options.scenario == "market" or self.conn.state.market_quotes:
                shared = market(self.conn.state, key, lambda stream=stream: stream)
                values, stream = shared.subscribe(qs, session.fields, self.conn.options.trades)
            else:
                values = stream.snapshot(session.fields)
            snap = {"n": key, "s": "ok", "v": values}
            await self.conn.send(self.conn.msg("qsd", qs, snap), done)
            session.streams[key] = stream  # only now, so no delta precedes the snapshot
        if self._task is None:
            self._task = asyncio.create_task(self._stream())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _stream(self) -> None:
        try:
            await self._stream_loop()
        except ConnectionClosed:
            return

    async def _stream_loop(self) -> None:
        conn, opts = self.conn, self.conn.options
        while True:
            await asyncio.sleep(opts.tick_interval)
            payloads: list[str] = []
            for session in list(self.sessions.values()):
                for stream in list(session.streams.values()):
                    payloads += stream.next_payloads(opts.ticks_per_frame, session.fields)
            if not payloads:
                continue
            record = conn.record
            if (
                opts.scenario == "disconnect_mid_stream"
                and record.ticks_sent + len(payloads) >= opts.drop_after
                and conn.state.claim_once("stream", "")
            ):
                rest = max(opts.drop_after - record.ticks_sent, 0)
                await conn.send_raw("".join(frame(p) for p in payloads[:rest]))
                record.ticks_sent += rest
                log.info(
                    "scenario disconnect_mid_stream: dropping after %d ticks", record.ticks_sent
                )
                conn.abort("disconnect_mid_stream")
                return
            await conn.send_raw("".join(frame(p) for p in payloads))
            record.ticks_sent += len(payloads)
            if opts.scenario == "disconnect_every_frame":
                conn.abort("disconnect_every_frame")
                return
