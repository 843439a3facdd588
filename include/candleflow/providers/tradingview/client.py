"""One TradingView websocket: handshake, auth, heartbeat echo and bounded reads.

Why a class of its own: TradingView throttles connections per IP and account (HTTP 429,
``max_connections`` in the JWT), so one socket serves many chart sessions one after another
and only this module touches the socket. Every read is bounded twice: a per-``recv`` socket
timeout and an *idle deadline* that heartbeats do not extend, because an expired token can
produce a connection that delivers only heartbeats and no data.

Errors are translated here, once: a closed socket, a socket timeout or HTTP 429/403/5xx at
the handshake become ``ProviderDisconnected``/``ProviderTimeout`` (transient, retried by
``RetryPolicy`` and then Airflow); ``protocol_error`` becomes ``AuthenticationError`` (bad
token) or ``ProviderError``; a frame that is not an envelope is a ``ProtocolError`` and closes
the socket, since nothing after it can be trusted (``RetryPolicy`` then starts afresh).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import websocket

from candleflow.errors import (
    AuthenticationError,
    ProtocolError,
    ProviderDisconnected,
    ProviderError,
    ProviderTimeout,
)
from candleflow.providers.tradingview import protocol as tvp
from candleflow.providers.tradingview.retry import Timings
from candleflow.retry import retry_after_seconds

log = logging.getLogger(__name__)

DEFAULT_URL = "wss://data.tradingview.com/socket.io/websocket"
URL_ENV = "CANDLEFLOW_TRADINGVIEW_URL"  # another endpoint: a replay server, a proxy
ORIGIN = "https://www.tradingview.com"
ANONYMOUS_TOKEN = "unauthorized_user_token"  # noqa: S105 - the public anonymous marker
TRANSIENT_HTTP = frozenset({403, 429})  # 403: throttled or blocked client; back off (section 6)


def unreachable(url: str, exc: BaseException) -> str:
    """Why ``url`` could not be reached, and what to do: offline, TradingView's own endpoint
    cannot be reached at all, and the way out is pointing the client at another one."""
    if url == DEFAULT_URL:
        return (
            f"cannot connect to TradingView at {url}: {exc}; offline? set "
            f"{URL_ENV} to another endpoint, e.g. a local replay server "
            "(candleflow replay-server prints its URL)"
        )
    return f"cannot connect to {url} (set by {URL_ENV} or the url option): {exc}; is it running?"


class Connection:
    """An authenticated socket. ``read`` returns decoded messages and echoes heartbeats."""

    def __init__(self, url: str, token: str, *, timeout: float, timings: Timings) -> None:
        self.url = url
        self._token = token
        self.timeout = timeout
        self.timings = timings
        self.hello: dict[str, Any] | None = None
        self._ws: websocket.WebSocket | None = None
        self._pending: list[dict[str, Any]] = []
        self.last_activity = time.monotonic()  # any frame, heartbeats included

    def __repr__(self) -> str:
        return f"<Connection url={self.url!r} token=*** open={self.is_open}>"

    @property
    def is_open(self) -> bool:
        return self._ws is not None and self._ws.connected

    def open(self) -> None:
        """Upgrade, wait for the hello, authenticate. The hello proves the server is alive."""
        try:
            self._ws = websocket.create_connection(
                self.url, timeout=self.timeout, origin=ORIGIN, skip_utf8_validation=True
            )
        except websocket.WebSocketBadStatusException as exc:
            status = exc.status_code
            if status in TRANSIENT_HTTP or status >= 500:
                error = ProviderDisconnected(f"handshake refused with HTTP {status}")
                error.retry_after = retry_after_seconds(exc.resp_headers)  # type: ignore[attr-defined]
                raise error from exc
            raise ProviderError(
                f"handshake refused with HTTP {status}", reason=str(status)
            ) from exc
        except (websocket.WebSocketTimeoutException, TimeoutError) as exc:
            raise ProviderTimeout(f"no handshake within {self.timeout}s") from exc
        except (websocket.WebSocketException, OSError) as exc:
            raise ProviderDisconnected(unreachable(self.url, exc)) from exc
        self.timings.connections += 1
        deadline = time.monotonic() + self.timeout
        while self.hello is None:
            if time.monotonic() >= deadline:
                raise ProviderTimeout(f"no hello from {self.url} within {self.timeout}s")
            for msg in self._recv(deadline - time.monotonic()):
                if "session_id" in msg and "m" not in msg:
                    self.hello = msg
                else:
                    self._pending.append(msg)
        log.debug("connected to %s (server session %s)", self.url, self.hello.get("session_id"))
        self.send("set_auth_token", self._token)
        self.send("set_locale", "en", "US")

    def send(self, method: str, *params: Any) -> None:
        self._send_raw(tvp.message(method, *params))

    def read(self, deadline: float) -> list[dict[str, Any]]:
        """Messages of the next frame with data; ``ProviderTimeout`` at ``deadline``.

        The deadline is the caller's: heartbeats do not extend it.
        """
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProviderTimeout(f"no data from {self.url} within {self.timeout}s")
            msgs = self.poll(remaining)
            if msgs:
                return msgs

    def poll(self, wait: float) -> list[dict[str, Any]]:
        """Messages of one frame, or ``[]`` if none came within ``wait`` seconds.

        ``protocol_error`` is raised here because the server closes the socket after it.
        """
        if self._pending:
            msgs, self._pending = self._pending, []
        else:
            msgs = self._recv(min(wait, self.timeout))
        for msg in msgs:
            if msg.get("m") == "protocol_error":
                reason = str((msg.get("p") or ["?"])[0])
                self.close()
                if "auth" in reason:
                    raise AuthenticationError(
                        f"TradingView rejected the token: {reason}", reason=reason
                    )
                raise ProviderError(f"TradingView protocol error: {reason}", reason=reason)
        return msgs

    def close(self) -> None:
        if self._ws is not None:
            ws, self._ws = self._ws, None
            try:
                ws.close(timeout=0.2)
            except (websocket.WebSocketException, OSError) as exc:
                log.debug("ignoring error while closing %s: %s", self.url, exc)

    # ----- internals --------------------------------------------------------------------

    def _send_raw(self, data: str) -> None:
        if self._ws is None:
            raise ProviderDisconnected("connection is closed")
        try:
            self._ws.send(data)
        except (websocket.WebSocketException, OSError) as exc:
            self.close()
            raise ProviderDisconnected(f"send failed: {exc}") from exc

    def _recv(self, wait: float) -> list[dict[str, Any]]:
        """One websocket frame, decoded; heartbeats are echoed and left out (may be empty).

        A timeout mid-frame is safe: websocket-client keeps the partial frame buffered.
        """
        if self._ws is None:
            raise ProviderDisconnected("connection is closed")
        started = time.perf_counter()
        try:
            self._ws.settimeout(max(wait, 0.001))
            opcode, data = self._ws.recv_data()
        except (websocket.WebSocketTimeoutException, TimeoutError):
            return []
        except (websocket.WebSocketException, OSError) as exc:
            self.close()
            raise ProviderDisconnected(f"connection lost: {exc}") from exc
        finally:
            self.timings.network_wait_s += time.perf_counter() - started
        self.last_activity = time.monotonic()
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            self.close()
            raise ProviderDisconnected("server closed the connection")
        if opcode != websocket.ABNF.OPCODE_TEXT:
            return []
        return self._decode(data)

    def _decode(self, data: bytes) -> list[dict[str, Any]]:
        started = time.perf_counter()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError(f"frame is not UTF-8: {exc}") from None
        try:
            payloads = tvp.split_frame(text)
            heartbeats = [p for p in payloads if tvp.is_heartbeat(p)]
            if heartbeats:
                payloads = [p for p in payloads if not tvp.is_heartbeat(p)]
            msgs = tvp.parse_payloads(payloads)
        except ProtocolError:
            self.close()  # what followed the bad envelope cannot be trusted
            raise
        self.timings.decode_s += time.perf_counter() - started
        self.timings.frames += 1
        self.timings.messages += len(msgs)
        self.timings.chars += len(text)
        for beat in heartbeats:
            self._send_raw(tvp.frame(beat))  # the identical payload, re-framed
        return msgs
