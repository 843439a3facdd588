"""A provider's one shared socket to TradingView, and the auth token it signs in with.

Why one socket: TradingView throttles connections per IP, so every call on one provider
(bars, actions, resolve) goes through the same ``Connection``, opened on first use and opened
afresh after a failure (``reconnect``, between retry attempts). ``open`` gives a socket of
its own, for the quote stream, which must not share the chart sessions' socket.

The token: the ``token`` option, else ``CANDLEFLOW_TRADINGVIEW_TOKEN`` (the CLI's path), else
anonymous access; read once, logged only as whether one is configured, never shown.
"""

from __future__ import annotations

import logging
import threading

from candleflow import config
from candleflow.providers.tradingview.client import ANONYMOUS_TOKEN, Connection
from candleflow.providers.tradingview.retry import Timings

log = logging.getLogger(__name__)

TOKEN_ENV = "CANDLEFLOW_TRADINGVIEW_TOKEN"  # noqa: S105 - a variable name, not a secret


class Link:
    """The shared socket of one provider; callers hold ``lock`` around a whole attempt."""

    def __init__(self, url: str, token: str | None, *, timeout: float, timings: Timings) -> None:
        self.url = url
        self.timeout = timeout
        self.timings = timings
        self.lock = threading.RLock()
        self._token_option = token
        self._token: str | None = None
        self._conn: Connection | None = None

    def connection(self) -> Connection:
        """The shared socket, opened if there is none or it was closed."""
        if self._conn is None or not self._conn.is_open:
            self._conn = self.open()
        return self._conn

    def open(self) -> Connection:
        """A new signed-in socket of the caller's own (closed again if signing in fails)."""
        conn = Connection(self.url, self.auth_token(), timeout=self.timeout, timings=self.timings)
        try:
            conn.open()
        except BaseException:
            conn.close()
            raise
        return conn

    def reconnect(self) -> None:
        """Called between attempts: the next attempt opens a fresh socket."""
        self.timings.reconnects += 1
        self.drop()

    def drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def auth_token(self) -> str:
        if self._token is None:
            self._token = self._token_option or config.setting(TOKEN_ENV, ANONYMOUS_TOKEN)
            log.info(
                "tradingview auth: %s",
                "anonymous" if self._token == ANONYMOUS_TOKEN else "token configured",
            )
        return self._token
