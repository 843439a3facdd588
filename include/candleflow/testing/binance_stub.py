"""A Binance spot REST stub on localhost, for tests and benchmarks of the ccxt provider.

Why a stub and not recorded responses: ccxt builds its own requests (paths, parameters,
paging, error mapping), so the honest test is ccxt's real client talking HTTP to a server
that answers the way Binance does. The stub serves ``/api/v3/ping``, ``time``,
``exchangeInfo`` and ``klines`` in Binance's real response shapes: klines are arrays of
strings and integers, at most 1,000 per request (a larger ``limit`` is capped, as Binance
spot does), ``startTime``/``endTime`` inclusive. Its candles are real ones
(``freqtrade_markets``: XRP/ETH 1m and ETH/BTC 5m from the shared freqtrade data) or a
seeded random walk (``synthetic_market``, for the benchmark's year of 1m bars). Intervals
coarser than a market's own are aggregated the way Binance builds them from trades.

Faults are queued with ``fail``: HTTP 429 and 418 with ``Retry-After``, 5xx, a dropped
connection, an unknown symbol's ``-1121``, and rejected credentials (401, ``-2015``); their
replies are ``binance_faults``'s::

    with BinanceStub() as stub:
        stub.fail("429", times=2, retry_after=1)
        ex = ccxt.binance({"urls": stub.ccxt_urls})
        ...
        assert stub.hits["klines"] == 3

``python -m candleflow.testing.binance_stub --port 8901`` runs it in the foreground.
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

from candleflow.testing.binance_faults import FAULTS, BinanceError, Fault, fault_error
from candleflow.testing.binance_markets import INTERVAL_MS, StubMarket, freqtrade_markets, render

log = logging.getLogger(__name__)

API = "/api/v3/"
DEFAULT_LIMIT, MAX_LIMIT = 500, 1000
RATE_LIMITS = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
    {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
]


class BinanceStub:
    """The stub server; ``url`` is its root, ``ccxt_urls`` the override ccxt takes."""

    def __init__(
        self, markets: list[StubMarket] | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        markets = freqtrade_markets() if markets is None else markets
        self.markets = {m.symbol: m for m in markets}
        self.hits: collections.Counter[str] = collections.Counter()
        self.requests: list[tuple[str, dict[str, str], int]] = []  # (endpoint, query, status)
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), _handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def ccxt_urls(self) -> dict[str, Any]:
        """ccxt's ``urls`` override pointing the public spot API here."""
        return {"api": {"public": f"{self.url}/api/v3"}}

    @property
    def env(self) -> dict[str, str]:
        """``CANDLEFLOW_CCXT_URLS`` pointing ``binance`` here."""
        return {"CANDLEFLOW_CCXT_URLS": json.dumps({"binance": self.ccxt_urls})}

    def fail(
        self, kind: str, *, times: int = 1, endpoint: str = "klines", retry_after: int = 1
    ) -> None:
        """Answer the next ``times`` requests to ``endpoint`` with fault ``kind``."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; expected one of {', '.join(FAULTS)}")
        with self._lock:
            self._faults.append(Fault(kind, endpoint, times, retry_after))

    def take_fault(self, endpoint: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.endpoint == endpoint and fault.remaining > 0:
                    fault.remaining -= 1
                    return fault
        return None

    def record(self, endpoint: str, query: dict[str, str], status: int) -> None:
        with self._lock:
            self.hits[endpoint] += 1
            self.requests.append((endpoint, query, status))

    # ----- endpoints ---------------------------------------------------------------------

    def answer(self, endpoint: str, query: dict[str, str]) -> bytes:
        if endpoint == "ping":
            return b"{}"
        if endpoint == "time":
            return json.dumps({"serverTime": int(time.time() * 1000)}).encode()
        if endpoint == "exchangeInfo":
            return json.dumps(self._exchange_info(query)).encode()
        if endpoint == "klines":
            return self._klines(query)
        raise BinanceError(404, -1, f"no such endpoint {API}{endpoint} in the stub")

    def _market(self, symbol: str | None) -> StubMarket:
        if not symbol:
            raise BinanceError(
                400,
                -1102,
                "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
            )
        if symbol not in self.markets:
            raise BinanceError(400, -1121, "Invalid symbol.")
        return self.markets[symbol]

    def _exchange_info(self, query: dict[str, str]) -> dict[str, Any]:
        if "symbol" in query:
            chosen = [self._market(query["symbol"])]
        elif "symbols" in query:
            chosen = [self._market(s) for s in json.loads(query["symbols"])]
        else:
            chosen = list(self.markets.values())
        return {
            "timezone": "UTC",
            "serverTime": int(time.time() * 1000),
            "rateLimits": RATE_LIMITS,
            "exchangeFilters": [],
            "symbols": [m.exchange_info() for m in chosen],
        }

    def _klines(self, query: dict[str, str]) -> bytes:
        market = self._market(query.get("symbol"))
        interval = query.get("interval")
        if interval not in INTERVAL_MS and interval != "1M":
            raise BinanceError(400, -1120, "Invalid interval.")
        try:
            limit = int(query.get("limit", DEFAULT_LIMIT))
            start = int(query["startTime"]) if "startTime" in query else None
            end = int(query["endTime"]) if "endTime" in query else None
        except ValueError:
            raise BinanceError(400, -1100, "Illegal characters found in a parameter.") from None
        if limit < 1:
            raise BinanceError(400, -1130, "Data sent for parameter 'limit' is not valid.")
        limit = min(limit, MAX_LIMIT)
        table = market.klines(interval)
        lo = 0 if start is None else int(table.open_ms.searchsorted(start, "left"))
        hi = len(table.rows) if end is None else int(table.open_ms.searchsorted(end, "right"))
        if start is not None:  # the oldest ``limit`` klines from startTime on
            hi = min(hi, lo + limit)
        else:  # no startTime: the newest ``limit`` klines up to endTime (or now)
            lo = max(lo, hi - limit)
        return render(table.rows[lo:hi])

    # ----- lifecycle -------------------------------------------------------------------

    def start(self) -> Self:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="binance-stub", daemon=True
        )
        self._thread.start()
        log.info("binance stub on %s (%d markets)", self.url, len(self.markets))
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _handler(stub: BinanceStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as ccxt's requests session expects

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = dict(parse_qsl(parts.query))
            endpoint = parts.path.removeprefix(API) if parts.path.startswith(API) else parts.path
            fault = stub.take_fault(endpoint)
            if fault is not None and fault.kind == "drop":
                stub.record(endpoint, query, 0)
                self.close_connection = True  # no status line: the client sees a reset
                return
            status, headers = 200, {"X-MBX-USED-WEIGHT-1M": str(stub.hits[endpoint] + 1)}
            try:
                if fault is not None:
                    raise fault_error(fault, headers)
                body = stub.answer(endpoint, query)
            except BinanceError as exc:
                status, body = exc.status, json.dumps(exc.body).encode()
            stub.record(endpoint, query, status)
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(body)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("binance stub: " + format, *args)

    return Handler


def main(argv: list[str] | None = None) -> None:
    from candleflow.testing.binance_markets import synthetic_market

    parser = argparse.ArgumentParser(description="A Binance spot REST stub on localhost.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8901)
    parser.add_argument(
        "--synthetic",
        action="append",
        default=[],
        metavar="SYMBOL:BASE:QUOTE:START:END",
        help="add a seeded 1m random walk, e.g. BTCUSDT:BTC:USDT:2024-01-01:2025-01-01",
    )
    parser.add_argument("--no-freqtrade", action="store_true", help="skip the real candles")
    args = parser.parse_args(argv)
    markets = [] if args.no_freqtrade else freqtrade_markets()
    for spec in args.synthetic:
        symbol, base, quote, start, end = spec.split(":", 4)
        markets.append(synthetic_market(symbol, base, quote, start, end))
    stub = BinanceStub(markets, host=args.host, port=args.port)
    for market in markets:
        market.klines(market.interval)  # render before announcing: the first page is not slow
    print(f"listening on {stub.url}/api/v3", flush=True)
    try:
        stub._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stub._server.server_close()


if __name__ == "__main__":
    main()
