"""The Binance REST stub answers in Binance's real shapes, read with plain HTTP (no ccxt).

The oracle is pandas reading the freqtrade feather files the stub serves; the shapes are
Binance's documented ones (klines as arrays of 12 fields, strings for decimals, integer
times, at most 1,000 per request, ``startTime``/``endTime`` inclusive).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from urllib.parse import urlencode

import pandas as pd
import pytest

from candleflow.testing.binance_markets import freqtrade_markets
from candleflow.testing.binance_stub import BinanceStub
from tests.support.shared_data import shared_data

pytestmark = pytest.mark.timeout(60)

MINUTE_MS = 60_000


@pytest.fixture(scope="module")
def stub():
    with BinanceStub(freqtrade_markets(shared_data("freqtrade").parent)) as srv:
        yield srv


@pytest.fixture(scope="module")
def xrpeth() -> pd.DataFrame:
    frame = pd.read_feather(shared_data("freqtrade/XRP_ETH-1m.feather"))
    frame["ms"] = frame["date"].dt.as_unit("ms").astype("int64")
    return frame


def get(stub: BinanceStub, endpoint: str, **query: object) -> tuple[int, object, dict]:
    url = f"{stub.url}/api/v3/{endpoint}" + (f"?{urlencode(query)}" if query else "")
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return reply.status, json.loads(reply.read()), dict(reply.headers)
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read()), dict(err.headers)


def test_ping_and_time(stub):
    assert get(stub, "ping")[:2] == (200, {})
    status, body, _ = get(stub, "time")
    assert status == 200 and isinstance(body["serverTime"], int)


def test_exchange_info_lists_both_markets_with_filters(stub):
    status, body, _ = get(stub, "exchangeInfo")
    assert status == 200
    symbols = {s["symbol"]: s for s in body["symbols"]}
    assert set(symbols) == {"XRPETH", "ETHBTC"}
    xrp = symbols["XRPETH"]
    assert (xrp["baseAsset"], xrp["quoteAsset"], xrp["status"]) == ("XRP", "ETH", "TRADING")
    price_filter = next(f for f in xrp["filters"] if f["filterType"] == "PRICE_FILTER")
    assert price_filter["tickSize"] == "0.00000001"
    assert body["rateLimits"][0]["rateLimitType"] == "REQUEST_WEIGHT"


def test_exchange_info_of_an_unknown_symbol_is_error_1121(stub):
    assert get(stub, "exchangeInfo", symbol="NOPE")[:2] == (
        400,
        {"code": -1121, "msg": "Invalid symbol."},
    )


def test_klines_have_binance_shape_and_the_file_values(stub, xrpeth):
    status, rows, _ = get(stub, "klines", symbol="XRPETH", interval="1m", limit=5)
    assert status == 200
    assert all(len(row) == 12 for row in rows)
    assert all(isinstance(row[0], int) and isinstance(row[6], int) for row in rows)
    assert all(isinstance(v, str) for row in rows for v in row[1:6])
    tail = xrpeth.tail(5)  # no startTime: the newest klines
    assert [row[0] for row in rows] == tail["ms"].tolist()
    assert [row[6] for row in rows] == (tail["ms"] + MINUTE_MS - 1).tolist()
    for column, index in (("open", 1), ("high", 2), ("low", 3), ("close", 4), ("volume", 5)):
        assert [float(row[index]) for row in rows] == tail[column].tolist()
    assert rows[0][1].count(".") == 1 and len(rows[0][1].split(".")[1]) == 8  # "0.00141300"


def test_start_and_end_time_are_inclusive(stub, xrpeth):
    first, fifth = xrpeth["ms"].iloc[0], xrpeth["ms"].iloc[4]
    _, rows, _ = get(stub, "klines", symbol="XRPETH", interval="1m", startTime=first, endTime=fifth)
    assert [row[0] for row in rows] == xrpeth["ms"].iloc[:5].tolist()


def test_limit_is_capped_at_1000(stub, xrpeth):
    _, rows, _ = get(stub, "klines", symbol="XRPETH", interval="1m", startTime=0, limit=5000)
    assert len(rows) == 1000
    assert [row[0] for row in rows] == xrpeth["ms"].iloc[:1000].tolist()
    _, default, _ = get(stub, "klines", symbol="XRPETH", interval="1m", startTime=0)
    assert len(default) == 500


def test_end_time_alone_gives_the_newest_klines_up_to_it(stub, xrpeth):
    end = xrpeth["ms"].iloc[1500]
    _, rows, _ = get(stub, "klines", symbol="XRPETH", interval="1m", endTime=end, limit=3)
    assert [row[0] for row in rows] == xrpeth["ms"].iloc[1498:1501].tolist()


def test_hourly_klines_are_aggregated_from_the_minutes(stub, xrpeth):
    _, rows, _ = get(stub, "klines", symbol="XRPETH", interval="1h", startTime=0, limit=2)
    hour = xrpeth[xrpeth["ms"] < xrpeth["ms"].iloc[0] + 60 * MINUTE_MS]
    first = rows[0]
    assert float(first[1]) == hour["open"].iloc[0] and float(first[4]) == hour["close"].iloc[-1]
    assert float(first[2]) == hour["high"].max() and float(first[3]) == hour["low"].min()
    assert float(first[5]) == pytest.approx(hour["volume"].sum(), rel=1e-12)


def test_bad_requests_get_binance_error_codes(stub):
    assert get(stub, "klines", symbol="NOPE", interval="1m")[1]["code"] == -1121
    assert get(stub, "klines", symbol="XRPETH", interval="45m")[1]["code"] == -1120
    assert get(stub, "klines", interval="1m")[1]["code"] == -1102


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [("429", 429, -1003), ("418", 418, -1003), ("503", 503, -1001), ("-1121", 400, -1121)],
)
def test_faults_answer_once_then_the_stub_recovers(stub, kind, status, code):
    stub.fail(kind, retry_after=7)
    got_status, body, headers = get(stub, "klines", symbol="XRPETH", interval="1m", limit=1)
    assert (got_status, body["code"]) == (status, code)
    if kind in ("429", "418"):
        assert headers["Retry-After"] == "7"
    assert get(stub, "klines", symbol="XRPETH", interval="1m", limit=1)[0] == 200


def test_a_dropped_connection_sends_no_reply(stub):
    stub.fail("drop")
    with pytest.raises((ConnectionError, urllib.error.URLError)):
        get(stub, "klines", symbol="XRPETH", interval="1m", limit=1)
    assert get(stub, "klines", symbol="XRPETH", interval="1m", limit=1)[0] == 200


def test_an_unknown_fault_is_refused():
    with BinanceStub([]) as empty, pytest.raises(ValueError, match="unknown fault 'teapot'"):
        empty.fail("teapot")
