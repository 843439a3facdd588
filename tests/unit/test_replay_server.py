"""The replay server, driven by a minimal raw websocket client (websocket-client).

Expected values come from the protocol doc (shapes, strings), from ``exchange_calendars``
facts checked by hand (2024-07-03 closes at 13:00 New York, 2024-07-04 is a holiday) and
from ``synthetic.bars``, the oracle the server promises to match.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import time
from typing import Any

import pytest
import websocket

from candleflow.errors import ProtocolError
from candleflow.providers.tradingview.protocol import decode, frame, message, split_frame
from candleflow.testing import ReplayServer, synthetic

NOW = int(dt.datetime(2024, 7, 10, 15, 7, tzinfo=dt.UTC).timestamp())  # Wednesday, in session
pytestmark = pytest.mark.timeout(30)


class RawClient:
    """Just enough of a client to see exactly what the server sends."""

    def __init__(self, url: str, *, echo: bool = True, timeout: float = 5.0) -> None:
        # skip_utf8_validation: websocket-client's pure-Python UTF-8 check caps it near 1 MB/s.
        self.ws = websocket.create_connection(
            url, timeout=timeout, origin="https://www.tradingview.com", skip_utf8_validation=True
        )
        self.echo = echo
        self.hello = decode(self.ws.recv())[0]

    def send(self, method: str, *params: Any) -> None:
        self.ws.send(message(method, *params))

    def frame(self) -> str:
        """The next non-heartbeat frame's text (heartbeats are echoed on the way)."""
        while True:
            raw = self.ws.recv()
            payloads = split_frame(raw)
            if all(p.startswith("~h~") for p in payloads):
                if self.echo:
                    for p in payloads:
                        self.ws.send(frame(p))
                continue
            return raw

    def frames_for(self, seconds: float) -> list[str]:
        """Every frame (heartbeats included, and echoed) that arrives within ``seconds``."""
        frames, deadline = [], time.monotonic() + seconds
        self.ws.settimeout(0.05)
        while time.monotonic() < deadline:
            try:
                raw = self.ws.recv()
            except websocket.WebSocketTimeoutException:
                continue
            frames.append(raw)
            for p in split_frame(raw):
                if p.startswith("~h~") and self.echo:
                    self.ws.send(frame(p))
        return frames

    def until(self, method: str, limit: int = 50) -> list[dict[str, Any]]:
        """Messages up to and including the first ``method``."""
        seen: list[dict[str, Any]] = []
        for _ in range(limit):
            seen += [m for m in decode(self.frame()) if isinstance(m, dict)]
            if seen[-1].get("m") == method or any(m.get("m") == method for m in seen):
                return seen
        raise AssertionError(f"no {method} in {[m.get('m') for m in seen]}")

    def chart(self, symbol: str, res: str = "60", count: Any = 10, range_: str = "") -> None:
        self.send("set_auth_token", "unauthorized_user_token")
        self.send("chart_create_session", "cs_test", "")
        self.send("resolve_symbol", "cs_test", "sym_1", "=" + json.dumps({"symbol": symbol}))
        self.send("create_series", "cs_test", "sds_1", "s1", "sym_1", res, count, range_)

    def close(self) -> None:
        self.ws.close()


def bars_of(messages: list[dict[str, Any]]) -> list[list[Any]]:
    return [
        b["v"] for m in messages if m["m"] == "timescale_update" for b in m["p"][1]["sds_1"]["s"]
    ]


@pytest.fixture
def server():
    with ReplayServer(port=0, seed=1, bar_cap=100, now=NOW) as srv:
        yield srv


def test_hello_comes_first_and_headers_are_recorded(server: ReplayServer) -> None:
    client = RawClient(server.url + "?from=chart%2F&type=chart")
    assert set(client.hello) >= {"session_id", "timestamp", "release", "protocol", "javastudies"}
    assert "m" not in client.hello
    client.close()
    (record,) = server.stats.connections
    assert record.headers["Origin"] == "https://www.tradingview.com"
    assert record.query == {"from": "chart/", "type": "chart"}


def test_history_reply_is_one_frame_of_three_envelopes_matching_the_oracle(server) -> None:
    client = RawClient(server.url)
    client.chart("BINANCE:BTCUSDT", "60", 5)
    resolved = decode(client.frame())
    assert resolved[0]["m"] == "symbol_resolved" and resolved[0]["p"][1] == "sym_1"
    reply = decode(client.frame())
    assert [m["m"] for m in reply] == ["series_loading", "timescale_update", "series_completed"]
    assert reply[2]["p"] == ["cs_test", "sds_1", "streaming", "s1", {"rt_update_period": 5}]
    got = [b["v"] for b in reply[1]["p"][1]["sds_1"]["s"]]
    oracle = synthetic.bars("BINANCE:BTCUSDT", "1h", NOW - 5 * 3600, NOW + 1, now=NOW)
    assert [v[0] for v in got] == [ts.timestamp() for ts in oracle["ts"]]
    assert got == oracle.assign(ts=[v[0] for v in got]).values.tolist()
    assert got[-1][0] == NOW - 7 * 60  # the forming bar (15:00) is included, closed at now
    assert all(v[3] <= min(v[1], v[4]) <= max(v[1], v[4]) <= v[2] and v[5] >= 0 for v in got)


def test_astral_description_is_framed_in_utf16_units(server) -> None:
    client = RawClient(server.url)
    client.send("chart_create_session", "cs_test", "")
    client.send("resolve_symbol", "cs_test", "sym_1", "NYSE:SCGLY")
    raw = client.frame()
    declared = int(raw[3 : raw.index("~m~", 3)])
    payload = raw[raw.index("~m~", 3) + 3 :]
    astral = payload.count("😀")  # description, local_description, short_description
    assert astral == 3
    assert declared == len(payload.encode("utf-16-le")) // 2 == len(payload) + astral
    assert declared != len(payload.encode("utf-8"))
    assert json.loads(payload)["p"][2]["description"] == "Société Générale 😀"


def test_paging_is_capped_contiguous_and_ends_with_an_empty_page() -> None:
    with ReplayServer(port=0, seed=1, bar_cap=20, now=NOW) as srv:
        client = RawClient(srv.url)
        client.chart("BINANCE:ETHUSDT", "1M", 50)  # monthly since 2017-01: 91 bars in all
        pages = [bars_of(client.until("series_completed"))]
        while pages[-1]:
            client.send("request_more_data", "cs_test", "sds_1", 500)
            pages.append(bars_of(client.until("series_completed")))
    assert [len(p) for p in pages] == [20, 20, 20, 20, 11, 0]
    times = [v[0] for page in reversed(pages) for v in page]
    assert times == sorted(set(times))
    assert times[0] == dt.datetime(2017, 1, 1, tzinfo=dt.UTC).timestamp()
    assert times[-1] == dt.datetime(2024, 7, 1, tzinfo=dt.UTC).timestamp()


def test_bad_and_unknown_symbols_get_symbol_error_then_series_error_and_no_completion(
    server,
) -> None:
    for symbol in ("NASDAQ:BADSYM", "LSE:VOD", "AAPL"):
        client = RawClient(server.url)
        client.chart(symbol)
        first = decode(client.frame())
        assert first == [{"m": "symbol_error", "p": ["cs_test", "sym_1", "invalid symbol"],
                          "t": NOW, "t_ms": NOW * 1000}]  # fmt: skip
        second = decode(client.frame())
        assert [m["m"] for m in second] == ["series_loading", "series_error"]
        assert second[1]["p"][:4] == ["cs_test", "sds_1", "s1", "resolve error"]
        client.ws.settimeout(0.3)
        with pytest.raises(websocket.WebSocketTimeoutException):
            client.frame()
        client.close()


def test_index_symbols_have_five_element_bars_and_stocks_six(server) -> None:
    for symbol, width in (("SP:SPX", 5), ("TVC:DXY", 5), ("NASDAQ:AAPL", 6)):
        client = RawClient(server.url)
        client.chart(symbol, "1D", 3)
        assert {len(v) for v in bars_of(client.until("series_completed"))} == {width}
        client.close()


def test_xnys_hourly_grid_starts_at_the_open_and_respects_early_close_and_holiday() -> None:
    got = synthetic.bars("NASDAQ:AAPL", "1h", "2024-07-03", "2024-07-06")
    hours = [ts.strftime("%m-%d %H:%M") for ts in got["ts"]]
    # 07-03 closes early at 13:00 New York (17:00 UTC); 07-04 is a holiday.
    assert hours == ["07-03 13:30", "07-03 14:30", "07-03 15:30", "07-03 16:30",
                     "07-05 13:30", "07-05 14:30", "07-05 15:30", "07-05 16:30",
                     "07-05 17:30", "07-05 18:30", "07-05 19:30"]  # fmt: skip
    last = got.iloc[3]  # 16:30-17:00 UTC: half an hour, so less volume than a full bar
    assert last["volume"] < got.iloc[:3]["volume"].max()


def test_daily_bars_are_stamped_at_the_session_open_over_the_wire(server) -> None:
    client = RawClient(server.url)
    client.chart("NYSE:IBM", "1D", 200)
    stamps = {
        dt.datetime.fromtimestamp(v[0], dt.UTC).strftime("%H:%M")
        for v in bars_of(client.until("series_completed"))
    }
    assert stamps == {"13:30", "14:30"}  # summer and winter 09:30 New York


def test_same_seed_same_bars_other_seed_other_bars() -> None:
    def fetch(seed: int) -> list[list[Any]]:
        with ReplayServer(port=0, seed=seed, now=NOW) as srv:
            client = RawClient(srv.url)
            client.chart("NASDAQ:MSFT", "15", 300)
            return bars_of(client.until("series_completed"))

    first = fetch(7)
    assert first == fetch(7)
    assert first != fetch(8)
    window = synthetic.bars("NASDAQ:MSFT", "15m", "2024-07-01", "2024-07-02", seed=7)
    wide = synthetic.bars("NASDAQ:MSFT", "15m", "2024-06-20", "2024-07-05", seed=7)
    inside = (wide["ts"] >= window["ts"].iloc[0]) & (wide["ts"] <= window["ts"].iloc[-1])
    assert len(window) == 26  # one session: 09:30-16:00 New York in quarter hours
    assert window.equals(wide[inside].reset_index(drop=True))


def test_generation_of_50k_hourly_bars_is_contiguous() -> None:
    # Speed lives in benchmarks/ (bench_tv_fetch serves 50k bars); here: every hour, once.
    out = synthetic.bars("BINANCE:BTCUSDT", "1h", "2018-01-01", "2023-09-30")
    assert len(out) == (dt.datetime(2023, 9, 30) - dt.datetime(2018, 1, 1)) // dt.timedelta(hours=1)
    assert (out["ts"].diff().dropna() == dt.timedelta(hours=1)).all()


def test_bad_parameters_get_critical_errors(server) -> None:
    client = RawClient(server.url)
    client.chart("BINANCE:BTCUSDT", "1h", 5)
    client.frame()  # symbol_resolved
    (err,) = decode(client.frame())
    assert err["m"] == "critical_error" and err["p"][:2] == ["cs_test", "invalid parameters"]
    client.send("quote_create_session", "qs_t")
    client.send("quote_add_symbols", "qs_t", "BINANCE:BTCUSDT", {"flags": ["force_permission"]})
    assert decode(client.frame()) == [
        {"m": "critical_error", "p": ["qs_t", "invalid_parameters", "quote_add_symbols"]}
    ]


# ----- quotes ---------------------------------------------------------------------------------


def quote_client(url: str, *symbols: str, fields: tuple[str, ...] = ()) -> RawClient:
    client = RawClient(url)
    client.send("quote_create_session", "qs_t")
    if fields:
        client.send("quote_set_fields", "qs_t", *fields)
    client.send("quote_add_symbols", "qs_t", *symbols)
    return client


def test_quotes_snapshot_then_completed_then_deltas_with_rising_volume(server) -> None:
    url = server.url + "?tick_interval=0.01&ticks_per_frame=5"
    client = quote_client(
        url, "BINANCE:BTCUSDT", fields=("lp", "lp_time", "volume", "bid", "ask", "ch", "chp")
    )
    snap, done = decode(client.frame())
    assert (
        snap["m"] == "qsd" and snap["p"][1]["n"] == "BINANCE:BTCUSDT" and snap["p"][1]["s"] == "ok"
    )
    assert set(snap["p"][1]["v"]) == {"lp", "lp_time", "volume", "bid", "ask", "ch", "chp"}
    assert done == {"m": "quote_completed", "p": ["qs_t", "BINANCE:BTCUSDT"]}
    deltas = [m["p"][1]["v"] for _ in range(10) for m in decode(client.frame())]
    volumes = [snap["p"][1]["v"]["volume"]] + [d["volume"] for d in deltas]
    assert len(deltas) == 50
    assert all(b > a for a, b in itertools.pairwise(volumes))
    assert all(d["bid"] < d["lp"] < d["ask"] for d in deltas)


def test_quote_volume_resets_at_the_session_boundary() -> None:
    midnight = int(dt.datetime(2024, 7, 11, tzinfo=dt.UTC).timestamp())
    with ReplayServer(port=0, now=midnight - 1, tick_interval=0.01, ticks_per_frame=10,
                      tick_step=0.25) as srv:  # fmt: skip
        client = quote_client(srv.url, "BINANCE:ETHUSDT")
        client.frame()
        deltas = [m["p"][1]["v"] for _ in range(3) for m in decode(client.frame())]
    crossing = next(i for i, d in enumerate(deltas) if d["lp_time"] >= midnight)
    assert crossing == 3  # ticks at -0.75, -0.5, -0.25 s, then 0 s
    assert deltas[crossing]["volume"] < deltas[crossing - 1]["volume"]
    assert all(
        b["volume"] > a["volume"]
        for a, b in zip(deltas[crossing:], deltas[crossing + 1 :], strict=False)
    )


def test_ticks_are_deterministic_for_a_seed(server) -> None:
    def prices() -> list[float]:
        client = quote_client(server.url + "?tick_interval=0.01&ticks_per_frame=20", "NASDAQ:AAPL")
        client.frame()
        out = [m["p"][1]["v"]["lp"] for m in decode(client.frame())]
        client.close()
        return out

    assert prices() == prices()


def test_fast_mode_sends_ticks_in_frames_of_ticks_per_frame(server) -> None:
    # The rate itself (>= 20k ticks/s through the collector) is measured in bench_collector.
    symbols = ("BINANCE:BTCUSDT", "BINANCE:ETHUSDT", "NASDAQ:AAPL", "NYSE:IBM")
    client = quote_client(server.url + "?tick_interval=0&ticks_per_frame=500", *symbols)
    for _ in symbols:
        client.frame()  # snapshots
    counts = [client.frame().count('"m":"qsd"') for _ in range(20)]
    assert counts == [500 * len(symbols)] * 20  # ticks_per_frame is per symbol


# ----- fault scenarios ------------------------------------------------------------------------


def test_heartbeat_echo_keeps_the_connection_and_silence_closes_it() -> None:
    with ReplayServer(port=0, heartbeat=0.1, heartbeat_timeout=0.3) as srv:
        polite = RawClient(srv.url)
        seen = polite.frames_for(0.8)
        assert seen[:3] == ["~m~4~m~~h~1", "~m~4~m~~h~2", "~m~4~m~~h~3"]
        polite.send("quote_create_session", "qs_alive")
        polite.send("quote_add_symbols", "qs_alive", "BINANCE:BTCUSDT")
        assert decode(polite.frame())[1]["m"] == "quote_completed"  # still served
        silent = RawClient(srv.url, echo=False)
        beats, started = [], time.monotonic()
        silent.ws.settimeout(3)
        while True:  # the silent client only reads: one heartbeat, then the close
            opcode, data = silent.ws.recv_data(control_frame=True)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                break
            beats.append(data.decode())
        assert beats == ["~m~4~m~~h~1"]
        # 0.1 s to the heartbeat + 0.3 s to wait; well before the client's own 3 s timeout
        assert time.monotonic() - started < 2.5
        assert data[2:] == b"heartbeat timeout"
        records = {r.id: r for r in srv.stats.connections}
    assert records[2].closed == "heartbeat timeout"
    assert records[1].heartbeats_echoed >= 3


def test_disconnect_mid_page_cuts_the_first_page_once_per_symbol(server) -> None:
    url = server.url + "?scenario=disconnect_mid_page"
    client = RawClient(url)
    client.chart("BINANCE:BTCUSDT", "60", 40)
    client.frame()
    cut = decode(client.frame())
    assert [m["m"] for m in cut] == ["series_loading", "timescale_update"]
    assert len(cut[1]["p"][1]["sds_1"]["s"]) == 20
    with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionError)):
        client.frame()
    again = RawClient(url)
    again.chart("BINANCE:BTCUSDT", "60", 40)
    assert len(bars_of(again.until("series_completed"))) == 40


def test_heartbeats_only_never_answers() -> None:
    with ReplayServer(port=0, heartbeat=0.1, scenario="heartbeats_only") as srv:
        client = RawClient(srv.url)
        client.chart("BINANCE:BTCUSDT")
        frames = client.frames_for(0.8)
        assert len(frames) >= 4
        assert all(f.startswith("~m~4~m~~h~") for f in frames)
        assert srv.stats.connections[0].heartbeats_echoed >= 4
        assert srv.stats.methods["create_series"] == 1


def test_bad_token_gets_protocol_error_and_close(server) -> None:
    client = RawClient(server.url + "?scenario=bad_token")
    client.send("set_auth_token", "eyJhbGciOiJSUzUxMiJ9.fake.jwt")
    assert client.ws.recv() == '~m~45~m~{"m":"protocol_error","p":["bad auth token"]}'
    opcode, _ = client.ws.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert server.stats.connections[0].requests == [("set_auth_token", ["<token>"])]
    anonymous = RawClient(server.url + "?scenario=bad_token")
    anonymous.chart("BINANCE:BTCUSDT", count=2)
    assert len(bars_of(anonymous.until("series_completed"))) == 2


def test_http_429_rejects_the_first_n_handshakes(server) -> None:
    url = server.url + "?scenario=http_429&reject=2"
    for _ in range(2):
        with pytest.raises(websocket.WebSocketBadStatusException) as info:
            RawClient(url)
        assert info.value.status_code == 429
    assert "session_id" in RawClient(url).hello
    assert [r["status"] for r in server.stats.rejected] == [429, 429]


def test_malformed_frame_precedes_the_first_reply_once(server) -> None:
    url = server.url + "?scenario=malformed_frame"
    client = RawClient(url)
    client.chart("BINANCE:BTCUSDT", count=3)
    client.frame()  # symbol_resolved
    raw = client.ws.recv()
    with pytest.raises(ProtocolError):
        split_frame(raw)
    assert len(bars_of(client.until("series_completed"))) == 3
    second = RawClient(url)
    second.chart("BINANCE:BTCUSDT", count=3)
    second.frame()
    assert next(m["m"] for m in decode(second.frame())) == "series_loading"


def test_slow_delays_every_reply(server) -> None:
    client = RawClient(server.url + "?scenario=slow&delay=0.3")
    started = time.perf_counter()
    client.chart("BINANCE:BTCUSDT", count=2)
    client.until("series_completed")
    assert time.perf_counter() - started >= 0.6  # symbol_resolved, then the series reply


def test_bad_bars_corrupts_the_documented_positions(server) -> None:
    client = RawClient(server.url + "?scenario=bad_bars")
    client.chart("BINANCE:BTCUSDT", "60", 10)
    got = bars_of(client.until("series_completed"))
    good = synthetic.bars("BINANCE:BTCUSDT", "1h", NOW - 10 * 3600, NOW + 1, now=NOW)
    clean = [[ts.timestamp(), *row] for ts, *row in good.itertuples(index=False)]
    assert len(got) == 11
    assert got[1][2] < got[1][3]  # high < low
    assert got[2][5] < 0  # negative volume
    assert got[3][0] == got[4][0] and got[3] != got[4]  # duplicate ts, other values
    assert got[5][0] == clean[4][0] + 7  # off-grid
    assert got[6][4] is None  # null close
    assert [got[0], *got[7:]] == [clean[0], *clean[6:]]  # the rest untouched


def test_disconnect_mid_stream_drops_after_k_ticks_once(server) -> None:
    url = (
        server.url
        + "?scenario=disconnect_mid_stream&drop_after=30&tick_interval=0.01&ticks_per_frame=7"
    )
    client = quote_client(url, "BINANCE:BTCUSDT")
    client.frame()
    ticks = 0
    for _ in range(100):
        try:
            ticks += client.frame().count('"m":"qsd"')
        except (websocket.WebSocketConnectionClosedException, ConnectionError):
            break
    else:
        pytest.fail("the connection was not dropped")
    assert ticks == 30
    again = quote_client(url, "BINANCE:BTCUSDT")
    again.frame()
    assert sum(again.frame().count('"m":"qsd"') for _ in range(6)) == 42


def test_wrong_path_and_unknown_scenario_are_refused(server) -> None:
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        websocket.create_connection(server.url.replace("/socket.io/websocket", "/other"), timeout=5)
    assert info.value.status_code == 404
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        RawClient(server.url + "?scenario=nope")
    assert info.value.status_code == 400


# ----- ranges, tvkit's modify_series, the lookback ----------------------------------------

H = 3600


def starts(bars: list[list[Any]]) -> list[float]:
    return [v[0] for v in bars]


def oracle_starts(symbol: str, lo: int, hi: int, tf: str = "1h") -> list[float]:
    """Bar starts in ``[lo, hi]`` (inclusive, as a range is) before ``NOW``."""
    return [ts.timestamp() for ts in synthetic.bars(symbol, tf, lo, hi + 1, now=NOW)["ts"]]


def test_a_range_in_the_seventh_slot_gives_exactly_its_bars(server) -> None:
    hour = NOW - NOW % H
    lo, hi = hour - 900 * H, hour - 851 * H  # 50 bar starts, both ends included
    client = RawClient(server.url)
    client.chart("BINANCE:BTCUSDT", "60", 0, f"r,{lo}:{hi}")
    got = bars_of(client.until("series_completed"))
    expected = synthetic.bars("BINANCE:BTCUSDT", "1h", lo, hi + 1, now=NOW)
    assert starts(got) == oracle_starts("BINANCE:BTCUSDT", lo, hi)
    assert len(got) == 50 and got == expected.assign(ts=starts(got)).values.tolist()
    (record,) = server.stats.connections
    assert record.bars_sent == 50 == server.stats.bars_sent


def test_tvkits_create_then_modify_in_the_count_slot_sends_only_what_is_new(server) -> None:
    """tvkit: create_series for the newest bars, then a 6-element modify_series whose range
    sits in the count slot; TradingView leaves out the bars create_series delivered."""
    client = RawClient(server.url)
    client.chart("BINANCE:BTCUSDT", "60", 30)
    first = bars_of(client.until("series_completed"))
    lo, hi = NOW - 80 * H, NOW
    client.send("modify_series", "cs_test", "sds_1", "s2", "sym_1", "60", f"r,{lo}:{hi}")
    reply = client.until("series_completed")
    second = bars_of(reply)
    assert reply[-1]["p"][3] == "s2"  # the new turnaround is echoed
    everything = oracle_starts("BINANCE:BTCUSDT", lo, hi)
    assert starts(first) == everything[-30:]
    assert starts(second) == everything[:-30]  # the older part only, nothing twice


def test_a_range_longer_than_bar_cap_keeps_its_newest_bars(server) -> None:
    lo, hi = NOW - 1000 * H, NOW - 501 * H  # 500 bars; the cap is 100
    client = RawClient(server.url)
    client.chart("BINANCE:BTCUSDT", "60", 0, f"r,{lo}:{hi}")
    got = bars_of(client.until("series_completed"))
    assert starts(got) == oracle_starts("BINANCE:BTCUSDT", lo, hi)[-100:]


def test_a_bad_range_gets_a_critical_error(server) -> None:
    client = RawClient(server.url)
    client.chart("BINANCE:BTCUSDT", "60", 10, "r,yesterday")
    client.frame()  # symbol_resolved
    (err,) = decode(client.frame())
    assert err["m"] == "critical_error" and err["p"][:2] == ["cs_test", "invalid parameters"]


def test_ignore_range_answers_with_the_newest_count_bars(server) -> None:
    lo, hi = NOW - 900 * H, NOW - 851 * H
    client = RawClient(server.url + "?scenario=ignore_range")
    client.chart("BINANCE:BTCUSDT", "60", 7, f"r,{lo}:{hi}")
    got = bars_of(client.until("series_completed"))
    assert starts(got) == oracle_starts("BINANCE:BTCUSDT", NOW - 10 * H, NOW)[-7:]


def test_max_bars_serves_only_the_newest_bars_and_older_pages_are_empty(server) -> None:
    client = RawClient(server.url + "?max_bars=150")
    client.chart("NASDAQ:AAPL", "60", 80)
    pages = [bars_of(client.until("series_completed"))]
    for _ in range(3):
        client.send("request_more_data", "cs_test", "sds_1", 100)
        pages.append(bars_of(client.until("series_completed")))
    newest = oracle_starts("NASDAQ:AAPL", NOW - 2000 * H, NOW)[-150:]
    assert [len(p) for p in pages] == [80, 70, 0, 0]  # an empty page, never an error
    assert sorted(starts(pages[0]) + starts(pages[1])) == newest
    reach = int(newest[0])
    client.send("modify_series", "cs_test", "sds_1", "s2", "sym_1", "60", "", f"r,0:{reach - 1}")
    assert bars_of(client.until("series_completed")) == []  # wholly older than the lookback
    fresh = RawClient(server.url + "?max_bars=150")
    fresh.chart("NASDAQ:AAPL", "60", 0, f"r,{reach - 100 * H}:{reach + 20 * H}")
    straddling = bars_of(fresh.until("series_completed"))
    assert starts(straddling) == [t for t in newest if t <= reach + 20 * H]


def test_max_bars_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_bars"):
        ReplayServer(max_bars=0)


def test_the_cli_serves_the_lookback_given_by_max_bars() -> None:
    import subprocess
    import sys
    from pathlib import Path

    cli = str(Path(sys.executable).with_name("candleflow"))
    refused = subprocess.run([cli, "replay-server", "--max-bars", "0"], capture_output=True)
    assert refused.returncode == 2 and b"max-bars" in refused.stderr
    proc = subprocess.Popen(
        [cli, "replay-server", "--port", "0", "--max-bars", "5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        url = proc.stdout.readline().strip()  # printed once the port is bound
        client = RawClient(url)
        client.chart("BINANCE:BTCUSDT", "60", 50)
        first = bars_of(client.until("series_completed"))
        client.send("request_more_data", "cs_test", "sds_1", 50)
        older = bars_of(client.until("series_completed"))
        client.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert (len(first), older) == (5, [])


# ----- the catalogue of symbols -------------------------------------------------------------


def _resolves(url: str, symbol: str) -> str:
    """``symbol_resolved`` or ``symbol_error``: what a chart session's resolve answers."""
    client = RawClient(url)
    try:
        client.chart(symbol)
        return decode(client.frame())[0]["m"]
    finally:
        client.close()


def test_a_symbol_outside_the_catalogue_is_refused_as_tradingview_refuses_it(server) -> None:
    # NASDAQ:APPL is a typo of a real listing: TradingView answers symbol_error, and so does
    # the default server, though NASDAQ is an exchange it models.
    assert _resolves(server.url, "NASDAQ:AAPL") == "symbol_resolved"
    assert _resolves(server.url, "NASDAQ:APPL") == "symbol_error"
    client = quote_client(server.url, "NASDAQ:APPL")
    snap, done = decode(client.frame())
    assert snap["p"][1] == {"n": "NASDAQ:APPL", "s": "error", "errmsg": "invalid symbol", "v": {}}
    assert done["m"] == "quote_completed"
    client.close()


def test_any_symbol_serves_invented_names_of_the_exchanges_it_models() -> None:
    with ReplayServer(port=0, seed=1, bar_cap=100, now=NOW, any_symbol=True) as srv:
        assert _resolves(srv.url, "NASDAQ:S0001") == "symbol_resolved"
        assert _resolves(srv.url, "BINANCE:C0001USDT") == "symbol_resolved"
        assert _resolves(srv.url, "LSE:VOD") == "symbol_error"  # an exchange it does not model
        assert _resolves(srv.url, "NASDAQ:BADSYM") == "symbol_error"  # the fault hook stays


def test_every_catalogue_symbol_resolves_with_its_description(server) -> None:
    from candleflow.testing.universe import SYMBOLS

    assert len(SYMBOLS) >= 90 and {s.split(":")[0] for s in SYMBOLS} == {
        "NASDAQ", "NYSE", "AMEX", "SP", "TVC", "BINANCE",
    }  # fmt: skip
    for symbol in SYMBOLS:
        assert synthetic.spec(symbol) is not None, symbol  # the server can trade each one
    client = RawClient(server.url)
    client.chart("NYSE:BRK.B")
    resolved = decode(client.frame())[0]
    assert resolved["m"] == "symbol_resolved"
    assert resolved["p"][2]["description"] == "Berkshire Hathaway Inc. Class B"
    client.close()
