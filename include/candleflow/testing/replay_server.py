"""A TradingView-protocol websocket server on localhost, for tests and offline demos.

``ReplayServer`` speaks TradingView's websocket protocol with deterministic
synthetic data (``candleflow.testing.synthetic``), so the real client can be tested
without the network and its results compared against ``synthetic.bars``::

    with ReplayServer(port=0, seed=1) as srv:
        client.connect(srv.url)            # ws://127.0.0.1:PORT/socket.io/websocket
        ...
        assert srv.stats.methods["create_series"] == 1

It runs its asyncio loop in a background thread (``start``/``stop`` or the context
manager) or in the foreground (``serve_forever``, used by the CLI). Fault scenarios are
listed in ``candleflow.testing.scenarios.SCENARIOS``; choose one per connection with
``?scenario=NAME`` or for the whole server with ``scenario=``.

Symbols: by default the server knows the catalogue of ``candleflow.testing.universe`` and
answers any other symbol as TradingView does (``symbol_error``, an error quote); with
``any_symbol=True`` it serves any symbol of an exchange it models (``synthetic.spec``), for
tests and benchmarks that invent their universes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import http
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from candleflow.testing.lean_aapl import LeanHistory, data_root
from candleflow.testing.replay_state import ConnectionRecord, ServerState, ServerStats
from candleflow.testing.scenarios import ConnectionOptions, check_scenario
from candleflow.testing.session import ClientConnection

log = logging.getLogger(__name__)

PATH = "/socket.io/websocket"
__all__ = ["PATH", "ConnectionRecord", "ReplayServer", "ServerState", "ServerStats"]


class ReplayServer:
    """The server; ``port=0`` picks a free port, ``now`` freezes the clock (Unix seconds).

    ``bar_cap`` is the most bars in one history reply; ``max_bars`` the lookback (only the
    newest ``max_bars`` bars of each series are served, ``None`` for no limit);
    ``any_symbol`` serves symbols beyond the default catalogue (module docstring); other
    keywords are ``ConnectionOptions`` defaults, each overridable per connection in the URL.
    ``scenario="lean-aapl"`` serves LEAN's real AAPL daily history as of ``as_of`` (a date;
    the clock is then that date at 00:00 UTC unless ``now`` says otherwise), read from
    ``data`` (default: ``testing.lean_aapl.data_root``).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        seed: int = 1,
        bar_cap: int = 5000,
        max_bars: int | None = None,
        scenario: str | None = None,
        now: float | None = None,
        any_symbol: bool = False,
        as_of: dt.date | str | None = None,
        data: str | Path | None = None,
        **options: Any,
    ) -> None:
        if bar_cap < 1:
            raise ValueError(f"bar_cap must be positive, got {bar_cap}")
        if max_bars is not None and max_bars < 1:
            raise ValueError(f"max_bars must be positive or None (no limit), got {max_bars}")
        defaults = dataclasses.replace(
            ConnectionOptions(), scenario=check_scenario(scenario), max_bars=max_bars, **options
        )
        self.host, self.port = host, port
        history = None
        if scenario == "lean-aapl":
            if as_of is None:
                raise ValueError("scenario lean-aapl needs as_of, the date the history is as of")
            day = dt.date.fromisoformat(str(as_of))
            history = LeanHistory(data_root(data), day)
            if now is None:
                now = dt.datetime.combine(day, dt.time(), dt.UTC).timestamp()
        self.state = ServerState(
            seed=seed,
            bar_cap=bar_cap,
            options=defaults,
            now=now,
            any_symbol=any_symbol,
            history=history,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: OSError | None = None
        self.on_ready: Callable[[], None] | None = None  # called in the loop once listening
        self._next_id = 0
        self._active: set[ServerConnection] = set()

    @property
    def stats(self) -> ServerStats:
        return self.state.stats

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}{PATH}"

    def _options(self, request: Request) -> tuple[ConnectionOptions, dict[str, str]]:
        query = dict(parse_qsl(urlsplit(request.path).query))
        return self.state.options.with_query(query), query

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        seen = {"path": request.path, "headers": dict(request.headers.raw_items())}
        if path != PATH:
            self.stats.rejected.append({**seen, "status": 404})
            return conn.respond(http.HTTPStatus.NOT_FOUND, f"not found; use {PATH}\n")
        try:
            options, _ = self._options(request)
        except ValueError as exc:
            self.stats.rejected.append({**seen, "status": 400})
            return conn.respond(http.HTTPStatus.BAD_REQUEST, f"{exc}\n")
        if self.state.should_reject(options):
            self.stats.rejected.append({**seen, "status": 429})
            response = conn.respond(http.HTTPStatus.TOO_MANY_REQUESTS, "Too Many Requests\n")
            response.headers = Headers([*response.headers.raw_items(), ("Retry-After", "1")])
            return response
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        if ws.request is None:  # cannot happen after a successful handshake
            raise RuntimeError("websocket connection without its handshake request")
        options, query = self._options(ws.request)
        self._next_id += 1
        record = ConnectionRecord(
            id=self._next_id,
            path=ws.request.path,
            query=query,
            scenario=options.scenario,
            headers=dict(ws.request.headers.raw_items()),
        )
        self.stats.connections.append(record)
        log.info(
            "connection %d from %s, scenario %s", record.id, ws.remote_address, options.scenario
        )
        self._active.add(ws)
        try:
            await ClientConnection(ws, self.state, options, record).run()
        finally:
            self._active.discard(ws)

    async def _serve(self, stop: asyncio.Future[None] | None = None) -> None:
        async with serve(
            self._handle,
            self.host,
            self.port,
            process_request=self._process_request,
            max_size=None,
            compression=None,
            ping_interval=None,
        ) as server:
            self._server = server
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            if self.on_ready is not None:
                self.on_ready()
            if stop is None:
                await server.serve_forever()
            else:
                await stop
                # Tests stop servers with clients still attached; a close handshake with a
                # client that is not reading would wait out its timeout, so drop them.
                for conn in list(self._active):
                    conn.transport.abort()

    def serve_forever(self) -> None:
        """Run in the foreground until interrupted (Ctrl-C)."""
        asyncio.run(self._serve())

    def start(self) -> Self:
        """Start the server in a daemon thread; returns once it accepts connections."""
        if self._thread is not None:
            raise RuntimeError("ReplayServer already started")
        self._thread = threading.Thread(target=self._run_thread, name="replay-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout=10):
            raise RuntimeError("ReplayServer did not start within 10 s")
        if self._error is not None:
            self._thread = None
            raise self._error
        return self

    def _run_thread(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._stop: asyncio.Future[None] = loop.create_future()
        try:
            loop.run_until_complete(self._serve(self._stop))
        except OSError as exc:  # e.g. the port is taken: reported by start()
            self._error = exc
            self._ready.set()
        finally:
            loop.close()

    def stop(self) -> None:
        """Close every connection and the listening socket; safe to call twice."""
        if self._thread is None or self._loop is None:
            return
        stop = self._stop
        self._loop.call_soon_threadsafe(lambda: stop.done() or stop.set_result(None))
        self._thread.join(timeout=10)
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
