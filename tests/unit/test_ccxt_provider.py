"""The ccxt provider: ccxt's real Binance client against the REST stub, over real HTTP.

Expected bars come from pandas reading the freqtrade files the stub serves; expected
metadata from the stub's own exchangeInfo read with plain HTTP; retries are proven by the
requests the stub counted, never by timing.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest

from candleflow.domain import BAR_COLUMNS
from candleflow.errors import (
    AuthenticationError,
    BadInputError,
    ConfigError,
    ProviderDisconnected,
    SymbolNotFound,
    TransientError,
    UnsupportedOperation,
)
from candleflow.providers import get_provider
from candleflow.providers.ccxt import CcxtProvider
from candleflow.providers.ccxt.exchange import URLS_ENV, WIRE_LOG, forget_instances
from candleflow.testing.binance_markets import freqtrade_markets
from candleflow.testing.binance_stub import BinanceStub
from tests.support.shared_data import shared_data

pytestmark = pytest.mark.timeout(60)

UTC = dt.UTC
XRPETH = "BINANCE:XRPETH"
HOUR = dt.timedelta(hours=1)
WHOLE = (dt.datetime(2019, 10, 10, tzinfo=UTC), dt.datetime(2019, 10, 14, tzinfo=UTC))


@pytest.fixture
def stub():
    """A stub per test: each test counts its own requests and queues its own faults."""
    with BinanceStub(freqtrade_markets(shared_data("freqtrade").parent)) as srv:
        yield srv
    forget_instances()  # a later stub may get this port: it must not meet these markets


def feather(name: str) -> pd.DataFrame:
    frame = pd.read_feather(shared_data(f"freqtrade/{name}")).rename(columns={"date": "ts"})
    return frame[list(BAR_COLUMNS)]


def provider(stub: BinanceStub, **options) -> CcxtProvider:
    return CcxtProvider(urls=stub.ccxt_urls, backoff=0.01, max_backoff=2.0, **options)


def klines_requests(stub: BinanceStub) -> list[dict[str, str]]:
    return [query for endpoint, query, _ in stub.requests if endpoint == "klines"]


def assert_same_bars(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True), expected.reset_index(drop=True), check_dtype=False
    )
    assert (got["ts"].to_numpy() == expected["ts"].to_numpy()).all()


# ----- bars -----------------------------------------------------------------------------


def test_the_real_xrp_eth_minutes_arrive_value_for_value_paged_past_the_limit(stub):
    expected = feather("XRP_ETH-1m.feather")
    got = provider(stub).fetch_bars(XRPETH, "1m", *WHOLE)
    assert len(got) == len(expected) == 2469
    assert_same_bars(got, expected)
    pages = [q for q in klines_requests(stub) if q["startTime"] != "0"]
    assert len(pages) >= 3 and all(int(p["limit"]) <= 1000 for p in pages)
    starts = [int(p["startTime"]) for p in pages]
    assert starts == sorted(set(starts))  # each page starts after the previous one
    assert got.attrs["reachable_start"] == expected["ts"].iloc[0]  # the window opens earlier


def test_eth_btc_5m_window_is_exactly_start_inclusive_end_exclusive(stub):
    start, end = dt.datetime(2018, 1, 15, 3, 5, tzinfo=UTC), dt.datetime(2018, 1, 17, tzinfo=UTC)
    raw = feather("ETH_BTC-5m.feather")
    expected = raw[(raw["ts"] >= start) & (raw["ts"] < end)]
    got = provider(stub).fetch_bars("BINANCE:ETHBTC", "5m", start, end)
    assert got["ts"].iloc[0] == start and got["ts"].iloc[-1] == end - dt.timedelta(minutes=5)
    assert_same_bars(got, expected)


def test_a_short_window_costs_one_request_sized_to_the_window(stub):
    start = dt.datetime(2019, 10, 11, 1, tzinfo=UTC)
    got = provider(stub).fetch_bars(XRPETH, "1m", start, start + dt.timedelta(hours=1))
    raw = feather("XRP_ETH-1m.feather")
    assert len(got) == ((raw["ts"] >= start) & (raw["ts"] < start + dt.timedelta(hours=1))).sum()
    assert [q["limit"] for q in klines_requests(stub)] == ["60"]


def test_a_custom_page_size_pages_more(stub):
    got = provider(stub, limit=100).fetch_bars(XRPETH, "1m", *WHOLE)
    assert len(got) == 2469
    assert len(klines_requests(stub)) >= 25


def test_the_forming_bar_is_dropped(stub):
    start = dt.datetime(2019, 10, 11, tzinfo=UTC)
    now = dt.datetime(2019, 10, 11, 0, 5, 30, tzinfo=UTC)  # inside the 00:05 bar
    got = provider(stub).fetch_bars(XRPETH, "1m", start, start + dt.timedelta(hours=1), now=now)
    assert got["ts"].max() == dt.datetime(2019, 10, 11, 0, 4, tzinfo=UTC)


def test_a_timeframe_the_exchange_lacks_is_refused_before_any_request(stub):
    with pytest.raises(UnsupportedOperation, match=r"binance has no 45m candles.*1m, 3m, 5m"):
        provider(stub).fetch_bars(XRPETH, "45m", *WHOLE)
    assert klines_requests(stub) == []


def test_the_month_maps_to_ccxt_1mo_interval_and_keeps_the_open_time(stub):
    raw = feather("XRP_ETH-1m.feather")
    got = provider(stub).fetch_bars(XRPETH, "1mo", "2019-10-01", "2019-11-01")
    assert [q["interval"] for q in klines_requests(stub)] == ["1M"]
    assert got["ts"].tolist() == [pd.Timestamp("2019-10-01", tz="UTC")]
    row = got.iloc[0]
    assert (row["open"], row["close"]) == (raw["open"].iloc[0], raw["close"].iloc[-1])
    assert (row["high"], row["low"]) == (raw["high"].max(), raw["low"].min())
    assert row["volume"] == pytest.approx(raw["volume"].sum(), rel=1e-12)


def test_a_window_after_the_last_candle_is_empty(stub):
    got = provider(stub).fetch_bars(XRPETH, "1m", "2020-01-01", "2020-01-02")
    assert got.empty and tuple(got.columns) == BAR_COLUMNS


def test_a_window_before_the_listing_says_where_the_history_begins(stub):
    listed = feather("XRP_ETH-1m.feather")["ts"].iloc[0]
    prov = provider(stub)
    before = prov.fetch_bars(XRPETH, "1m", "2019-10-01", "2019-10-02")
    assert before.empty and before.attrs["reachable_start"] == listed
    prov.fetch_bars(XRPETH, "1m", "2019-10-02", "2019-10-03")
    first_candle_asks = [q for q in klines_requests(stub) if q["startTime"] == "0"]
    assert len(first_candle_asks) == 1  # asked once per market and timeframe


def test_a_window_inside_the_history_makes_no_extra_request(stub):
    start = dt.datetime(2019, 10, 11, 0, 0, tzinfo=UTC)  # the first candle of the file
    got = provider(stub).fetch_bars(XRPETH, "1m", start, start + dt.timedelta(hours=2))
    assert "reachable_start" not in got.attrs
    assert [q["startTime"] for q in klines_requests(stub)] == [str(int(start.timestamp() * 1000))]


# ----- markets: resolve and search ------------------------------------------------------


def exchange_info(stub: BinanceStub) -> dict:
    with urllib.request.urlopen(f"{stub.url}/api/v3/exchangeInfo", timeout=10) as reply:
        return {s["symbol"]: s for s in json.loads(reply.read())["symbols"]}


@pytest.mark.parametrize("market_id", ["XRPETH", "ETHBTC"])
def test_resolve_takes_scale_assets_and_type_from_the_markets(stub, market_id):
    info = exchange_info(stub)[market_id]
    tick = next(f for f in info["filters"] if f["filterType"] == "PRICE_FILTER")["tickSize"]
    inst = provider(stub).resolve(f"BINANCE:{market_id}")
    assert inst.symbol == f"BINANCE:{market_id}"
    assert inst.price_scale == round(1 / float(tick))
    assert (inst.type, inst.currency, inst.provider) == ("spot", info["quoteAsset"], "ccxt")
    assert (inst.timezone, inst.session) == ("Etc/UTC", "24x7")
    assert inst.extra["ccxt_symbol"] == f"{info['baseAsset']}/{info['quoteAsset']}"
    assert inst.extra["active"] is True


def test_markets_load_once_for_many_lookups(stub):
    prov = provider(stub)
    for _ in range(5):
        prov.resolve(XRPETH)
        prov.resolve("BINANCE:ETHBTC")
    assert stub.hits["exchangeInfo"] == 1


def test_concurrent_fetches_share_one_markets_load(stub):
    prov = provider(stub)
    start = dt.datetime(2019, 10, 11, tzinfo=UTC)
    with ThreadPoolExecutor(6) as pool:
        sizes = list(
            pool.map(
                lambda h: len(prov.fetch_bars(XRPETH, "1m", start, start + h * HOUR)), range(1, 7)
            )
        )
    raw = feather("XRP_ETH-1m.feather")
    assert sizes == [
        ((raw["ts"] >= start) & (raw["ts"] < start + h * HOUR)).sum() for h in range(1, 7)
    ]
    assert stub.hits["exchangeInfo"] == 1


def test_markets_reload_when_stale(stub):
    prov = provider(stub, markets_ttl=0)
    prov.resolve(XRPETH)
    prov.resolve(XRPETH)
    assert stub.hits["exchangeInfo"] == 2


def test_search_ranks_exact_ids_then_bases_then_the_rest(stub):
    prov = provider(stub)
    assert [i.symbol for i in prov.search("xrpeth")][:1] == [XRPETH]
    assert [i.symbol for i in prov.search("XRP/ETH")][:1] == [XRPETH]
    assert [i.symbol for i in prov.search("eth")] == ["BINANCE:ETHBTC", XRPETH]
    assert [i.symbol for i in prov.search("btc", exchange="BINANCE")] == ["BINANCE:ETHBTC"]
    assert prov.search("eth", type="swap") == []
    assert prov.search("doge") == []


# ----- errors -----------------------------------------------------------------------------


def test_an_unknown_symbol_fails_at_once_naming_the_exchange(stub):
    with pytest.raises(SymbolNotFound, match=r"'BINANCE:NOPE'.*binance lists no market"):
        provider(stub).fetch_bars("BINANCE:NOPE", "1m", *WHOLE)
    assert stub.hits["exchangeInfo"] == 1 and klines_requests(stub) == []  # no retries


def test_a_unified_symbol_is_refused_with_a_hint_naming_the_market_id(stub):
    with pytest.raises(BadInputError, match=r"'/' is not allowed .*e\.g\. BINANCE:XRPETH"):
        provider(stub).resolve("BINANCE:XRP/ETH")
    assert stub.hits["exchangeInfo"] == 0  # refused before asking the exchange


def test_an_unknown_exchange_prefix_is_a_config_error(stub):
    with pytest.raises(ConfigError, match=r"no ccxt exchange for symbol prefix 'NOWHERE'"):
        provider(stub).resolve("NOWHERE:XRPETH")


def test_an_alias_maps_a_prefix_to_an_exchange(stub):
    inst = provider(stub, exchanges={"BNC": "binance"}).resolve("BNC:XRPETH")
    assert inst.symbol == "BNC:XRPETH" and inst.extra["exchange_id"] == "binance"


@pytest.mark.parametrize("kind", ["429", "418", "500", "502", "503", "504", "drop"])
def test_each_transient_fault_is_retried_and_the_window_completes(stub, kind):
    stub.fail(kind, times=2, retry_after=0)
    got = provider(stub).fetch_bars(XRPETH, "1m", *WHOLE)
    assert len(got) == 2469
    statuses = [status for endpoint, _, status in stub.requests if endpoint == "klines"]
    assert statuses[:2] == [0 if kind == "drop" else int(kind)] * 2
    assert statuses[2:] == [200] * (len(statuses) - 2)


def test_retry_after_sets_the_wait(stub, caplog):
    stub.fail("429", times=1, retry_after=1)
    with caplog.at_level(logging.WARNING, logger="candleflow.retry"):
        provider(stub).fetch_bars(XRPETH, "1m", "2019-10-11T00:00Z", "2019-10-11T01:00Z")
    assert "retrying in 1.00s" in caplog.text  # backoff alone would be 0.01s


def test_a_ban_longer_than_max_backoff_fails_transiently_without_waiting(stub):
    stub.fail("418", times=1, retry_after=600)
    with pytest.raises(ProviderDisconnected, match=r"418.*wait 600s") as err:
        provider(stub).fetch_bars(XRPETH, "1m", *WHOLE)
    assert isinstance(err.value, TransientError) and err.value.retry_after == 600
    assert len(klines_requests(stub)) == 1


def test_a_persistent_fault_ends_in_a_transient_error_after_the_retries(stub):
    stub.fail("503", times=100)
    with pytest.raises(ProviderDisconnected, match=r"binance fetch_ohlcv 1m.*after 3 attempt"):
        provider(stub, max_retries=2).fetch_bars(XRPETH, "1m", *WHOLE)
    assert len(klines_requests(stub)) == 3


def test_an_invalid_symbol_reply_is_permanent(stub):
    stub.fail("-1121")
    with pytest.raises(SymbolNotFound, match=r"BINANCE:XRPETH.*binance refused it.*-1121"):
        provider(stub).fetch_bars(XRPETH, "1m", *WHOLE)
    assert len(klines_requests(stub)) == 1


def test_rejected_credentials_are_permanent(stub):
    stub.fail("401")
    with pytest.raises(AuthenticationError, match=r"binance rejected the API credentials"):
        provider(stub).fetch_bars(XRPETH, "1m", *WHOLE)
    assert len(klines_requests(stub)) == 1


def test_ticks_are_not_offered(stub):
    with pytest.raises(UnsupportedOperation, match=r"'ccxt' does not support 'ticks'"):
        list(provider(stub).stream_ticks([XRPETH], stop=threading.Event()))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"timeout": 0}, "timeout must be > 0"),
        ({"max_retries": -1}, "max_retries must be >= 0"),
        ({"limit": 0}, "limit must be >= 1"),
        ({"urls": "http://x"}, "urls must be a mapping"),
    ],
)
def test_bad_options_name_the_option(options, message):
    with pytest.raises(ValueError, match=message):
        CcxtProvider(**options)


# ----- configuration ----------------------------------------------------------------------


def test_the_environment_points_every_provider_at_the_stub(stub, monkeypatch):
    monkeypatch.setenv(URLS_ENV, stub.env[URLS_ENV])
    got = get_provider("ccxt", backoff=0.01).fetch_bars(XRPETH, "1m", *WHOLE)
    assert len(got) == 2469 and stub.hits["exchangeInfo"] == 1


def test_urls_may_be_given_per_exchange(stub):
    prov = CcxtProvider(urls={"binance": stub.ccxt_urls})
    assert prov.resolve(XRPETH).symbol == XRPETH


def test_a_malformed_environment_variable_is_named(monkeypatch):
    monkeypatch.setenv(URLS_ENV, "{not json")
    with pytest.raises(ConfigError, match=rf"{URLS_ENV} is not JSON"):
        CcxtProvider().resolve(XRPETH)


def test_providers_configured_alike_share_one_exchange_with_rate_limiting(stub):
    first, second = provider(stub), provider(stub)
    assert first._handle("BINANCE") is second._handle("BINANCE")
    assert first._handle("BINANCE").exchange.enableRateLimit is True
    other = provider(stub, timeout=5.0)._handle("BINANCE")
    assert other is not first._handle("BINANCE")


def test_credentials_never_appear_in_reprs_logs_or_errors(stub, caplog):
    key, secret = "AKIA-candleflow-test-key", "s3cret-candleflow-test-value"
    prov = provider(stub, api_key=key, secret=secret)
    assert key not in repr(prov) and secret not in repr(prov) and "***" in repr(prov)
    with caplog.at_level(logging.DEBUG):
        prov.fetch_bars(XRPETH, "1m", "2019-10-11T00:00Z", "2019-10-11T01:00Z")
        logging.getLogger(WIRE_LOG).debug("GET /klines headers %s", {"X-MBX-APIKEY": key})
        stub.fail("401")
        with pytest.raises(AuthenticationError) as err:
            prov.fetch_bars(XRPETH, "1m", *WHOLE)
    assert "X-MBX-APIKEY" in caplog.text  # the wire line was logged, masked
    assert key not in caplog.text and secret not in caplog.text
    assert key not in str(err.value) and secret not in str(err.value)


def test_first_bar_is_the_oldest_candle(stub):
    raw = feather("ETH_BTC-5m.feather")
    day = raw["ts"].iloc[0].normalize()
    assert provider(stub).first_bar("BINANCE:ETHBTC", "1d") == day.to_pydatetime()
