"""TradingView client parts that need no websocket server: quote merging, search, token.

Quote merging is driven through a scripted stand-in for ``Connection`` (the replay server
cannot send a bid/ask-only delta or replay a stale snapshot on demand); search runs against
a local HTTP server that records the request.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from typing import Any, ClassVar

import pytest

from candleflow.errors import ProviderDisconnected, ProviderError
from candleflow.providers.tradingview import TradingViewProvider
from candleflow.providers.tradingview.quotes import QuoteStream
from candleflow.providers.tradingview.retry import RetryPolicy

pytestmark = pytest.mark.timeout(30)

SYM = "BINANCE:BTCUSDT"
SNAPSHOT = {
    "lp": 100.0,
    "lp_time": 1700000000,
    "volume": 10.0,
    "bid": 99.9,
    "ask": 100.1,
    "ch": 1.0,
    "description": "Bitcoin",
}


class ScriptedConnection:
    """Plays back frames; an exception in the script is raised as the socket would."""

    timeout = 1.0
    url = "scripted"

    def __init__(self, script: list[Any], stop: threading.Event | None = None) -> None:
        self.script = script
        self.stop = stop
        self.sent: list[tuple[str, tuple[Any, ...]]] = []
        self.last_activity = time.monotonic()
        self.qs = ""

    def send(self, method: str, *params: Any) -> None:
        self.sent.append((method, params))
        if method == "quote_create_session":
            self.qs = params[0]

    def poll(self, wait: float) -> list[dict[str, Any]]:
        self.last_activity = time.monotonic()
        if not self.script:
            if self.stop is not None:
                self.stop.set()  # the script is played: end the stream
            return []
        item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        return [{"m": "qsd", "p": [self.qs, {"n": SYM, "s": "ok", "v": v}]} for v in item]

    def close(self) -> None:
        pass


def run_stream(*scripts: list[Any], limit: int = 20) -> tuple[list[Any], list[ScriptedConnection]]:
    stop = threading.Event()
    conns = [ScriptedConnection(list(s), stop) for s in scripts]
    pending = list(conns)
    stream = QuoteStream(
        lambda: pending.pop(0),
        [SYM],
        stop,
        retry=RetryPolicy(attempts=3, base_delay=0.0),
        silence_s=5.0,
    )
    ticks = []
    for tick in stream:
        ticks.append(tick)
        if len(ticks) >= limit:
            stop.set()
    return ticks, conns


def test_deltas_merge_into_snapshot_and_bid_ask_only_changes_yield_a_tick():
    ticks, (conn,) = run_stream(
        [
            [SNAPSHOT],
            [{"ch": 2.0}],  # no key field changed: no tick
            [{"bid": 99.95}],  # top of book only: a tick, same trade fields
            [{"lp": 101.0, "lp_time": 1700000001, "volume": 10.5}],
            [],
        ]
    )
    assert [(t.price, t.day_volume, t.bid, t.ask, t.seq) for t in ticks] == [
        (100.0, 10.0, 99.9, 100.1, 1),
        (100.0, 10.0, 99.95, 100.1, 2),
        (101.0, 10.5, 99.95, 100.1, 3),
    ]
    assert ticks[0].ts.isoformat() == "2023-11-14T22:13:20+00:00"
    adds = [p for m, p in conn.sent if m == "quote_add_symbols"]
    assert adds == [(conn.qs, SYM)]  # no force_permission flags object


def test_reconnect_resubscribes_and_drops_the_replayed_snapshot():
    first = [
        [SNAPSHOT],
        [{"lp": 101.0, "lp_time": 1700000001, "volume": 11.0}],
        ProviderDisconnected("dropped"),
    ]
    replay = {**SNAPSHOT, "lp": 101.0, "lp_time": 1700000001, "volume": 11.0}
    second = [[replay], [{"lp": 102.0, "lp_time": 1700000002, "volume": 12.0}], []]
    ticks, conns = run_stream(first, second)
    assert [(t.price, t.seq) for t in ticks] == [(100.0, 1), (101.0, 2), (102.0, 3)]
    assert all(any(m == "quote_add_symbols" for m, _ in c.sent) for c in conns)


def test_sentinel_volume_is_none_and_missing_price_yields_nothing():
    ticks, _ = run_stream([[{"bid": 1.0}], [{**SNAPSHOT, "volume": 1e100}], []])
    assert [(t.price, t.day_volume) for t in ticks] == [(100.0, None)]


def test_quote_session_critical_error_is_permanent():
    class Failing(ScriptedConnection):
        def poll(self, wait: float) -> list[dict[str, Any]]:
            return [{"m": "critical_error", "p": [self.qs, "invalid_parameters", "x"]}]

    stream = QuoteStream(
        lambda: Failing([]),
        [SYM],
        threading.Event(),
        retry=RetryPolicy(attempts=3, base_delay=0.0),
        silence_s=5.0,
    )
    with pytest.raises(ProviderError) as info:
        next(iter(stream))
    assert info.value.reason == "invalid_parameters"


# ----- search -------------------------------------------------------------------------------


class SearchHandler(http.server.BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, dict[str, str]]]] = []
    status = 200

    def do_GET(self) -> None:
        SearchHandler.seen.append((self.path, dict(self.headers.items())))
        body = json.dumps(
            {
                "symbols_remaining": 0,
                "symbols": [
                    {
                        "symbol": "<em>AAPL</em>",
                        "description": "Apple Inc.",
                        "type": "stock",
                        "exchange": "NASDAQ",
                        "currency_code": "USD",
                        "prefix": "NASDAQ",
                    },
                    {
                        "symbol": "SPY",
                        "description": "SPDR <em>S&P</em> 500",
                        "type": "fund",
                        "exchange": "Cboe One",
                        "currency_code": "USD",
                    },
                ],
            }
        ).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def search_server():
    SearchHandler.seen, SearchHandler.status = [], 200
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SearchHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/symbol_search/v3/"
    httpd.shutdown()
    httpd.server_close()


def test_search_sends_origin_and_referer_and_maps_results(search_server, monkeypatch):
    monkeypatch.setenv("CANDLEFLOW_TRADINGVIEW_SEARCH_URL", search_server)
    found = TradingViewProvider(token="x").search("aapl", type="stock", exchange="nasdaq")
    path, headers = SearchHandler.seen[0]
    assert headers["Origin"] == "https://www.tradingview.com"
    assert headers["Referer"] == "https://www.tradingview.com/"
    assert "text=AAPL" in path and "search_type=stock" in path and "exchange=NASDAQ" in path
    assert [(i.symbol, i.description, i.type, i.currency) for i in found] == [
        ("NASDAQ:AAPL", "Apple Inc.", "stock", "USD"),
        ("CBOE:SPY", "SPDR S&P 500", "fund", "USD"),
    ]


def test_search_http_429_is_retried_then_transient(search_server):
    SearchHandler.status = 429
    tv = TradingViewProvider(token="x", search_url=search_server, max_retries=2, backoff=0.01)
    with pytest.raises(ProviderDisconnected):
        tv.search("aapl")
    assert len(SearchHandler.seen) == 3


# ----- token ------------------------------------------------------------------------------


def test_token_precedence_option_env_anonymous_and_no_airflow_lookup(monkeypatch):
    monkeypatch.delenv("CANDLEFLOW_TRADINGVIEW_TOKEN", raising=False)
    # an Airflow connection in the environment is not the provider's business any more:
    # inside Airflow the token arrives as the ``token`` option (airflow.connections)
    monkeypatch.setenv(
        "AIRFLOW_CONN_TRADINGVIEW_DEFAULT",
        json.dumps({"conn_type": "generic", "password": "from-airflow"}),
    )
    assert TradingViewProvider().link.auth_token() == "unauthorized_user_token"
    monkeypatch.setenv("CANDLEFLOW_TRADINGVIEW_TOKEN", "from-env")
    assert TradingViewProvider().link.auth_token() == "from-env"
    tv = TradingViewProvider(token="from-option")
    assert tv.link.auth_token() == "from-option"
    assert "from-option" not in repr(tv) and "token=***" in repr(tv)


def test_no_provider_module_imports_airflow():
    """Providers stay importable and usable outside Airflow (the CLI, notebooks)."""
    import ast
    from pathlib import Path

    import candleflow.providers as package

    offenders = []
    for path in Path(package.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "airflow"]
    assert offenders == []


def test_bad_options_raise_value_error_naming_the_option():
    with pytest.raises(ValueError, match="timeout"):
        TradingViewProvider(timeout=0)
    with pytest.raises(ValueError, match="max_retries"):
        TradingViewProvider(max_retries=-1)
    with pytest.raises(ValueError, match="paging"):
        TradingViewProvider(paging="sideways")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_bars"):
        TradingViewProvider(max_bars=0)


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_endpoint_is_named_with_how_to_point_at_another():
    url = f"ws://127.0.0.1:{_closed_port()}/socket.io/websocket"
    with (
        TradingViewProvider(url=url, max_retries=0, timeout=5) as tv,
        pytest.raises(ProviderDisconnected) as raised,
    ):
        tv.resolve(SYM)
    message = str(raised.value)
    assert message.startswith(f"cannot connect to {url} (set by CANDLEFLOW_TRADINGVIEW_URL")
    assert message.endswith("is it running?")


def test_offline_the_default_endpoint_error_says_how_to_use_the_replay_server():
    from candleflow.providers.tradingview.client import DEFAULT_URL, unreachable

    # What a machine without DNS sees (the test must not depend on the network itself).
    message = unreachable(DEFAULT_URL, OSError(-2, "Name or service not known"))
    assert message.startswith(f"cannot connect to TradingView at {DEFAULT_URL}: ")
    assert "Name or service not known" in message
    assert "set CANDLEFLOW_TRADINGVIEW_URL to another endpoint" in message
    assert "candleflow replay-server" in message


def test_the_stack_banner_names_the_tradingview_endpoint(monkeypatch, tmp_path):
    from candleflow.stack import supervisor

    monkeypatch.setenv("CANDLEFLOW_WATCHLIST", str(tmp_path / "wl.toml"))
    (tmp_path / "wl.toml").write_text('symbols = ["NASDAQ:AAPL"]\n')
    monkeypatch.delenv("CANDLEFLOW_TRADINGVIEW_URL", raising=False)
    assert supervisor._tradingview().startswith("wss://data.tradingview.com/socket.io/websocket")
    assert "candleflow replay-server" in supervisor._tradingview()
    monkeypatch.setenv("CANDLEFLOW_TRADINGVIEW_URL", "ws://127.0.0.1:8765/socket.io/websocket")
    assert supervisor._tradingview() == (
        "ws://127.0.0.1:8765/socket.io/websocket (from CANDLEFLOW_TRADINGVIEW_URL)"
    )
    (tmp_path / "wl.toml").write_text(
        'symbols = ["NASDAQ:AAPL"]\n[provider_options]\nurl = "ws://tv.internal/ws"\n'
    )
    assert supervisor._tradingview() == "ws://tv.internal/ws (the watchlist's provider_options.url)"
