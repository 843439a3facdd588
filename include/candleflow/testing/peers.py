"""Third-party TradingView clients as peers: tvkit and tvdatafeed, pointed at a replay server.

Why: a replay server that only candleflow's own client has talked to could share that
client's misreadings of the protocol. Two independent clients, run against the same server,
must get exactly the bars candleflow gets (``tests/unit/test_peers.py``), and they are the
anchor of the throughput benchmarks (what a plain client costs on the same server).

Each peer is used through its own code paths, with two offline adjustments, both scoped to
the call: tvkit's HTTP symbol check (a GET to tradingview.com per symbol) is bypassed, and
tvdatafeed's hard-coded ``wss://data.tradingview.com`` socket is opened at ``url`` instead.
tvdatafeed never echoes heartbeats (it reads one series and closes), so its connection asks
the replay server for heartbeats once an hour (``?heartbeat=3600``); a real server would
drop such a client after about 20 s.

Frames are ``BAR_COLUMNS`` with ``ts`` the bar start in UTC, as each peer reported the bars:
both report 0.0 volume where a bar has none (candleflow reports NaN).

``*_latest_many`` fetch the newest ``n`` bars of many symbols on one connection, one chart
session after another (tvkit through its ``ConnectionService``, since its ``OHLCV`` opens a
new socket per call); ``tvkit_range`` is tvkit's public range mode
(``create_series`` then ``modify_series`` with ``"r,<from>:<to>"``). Both peers also subscribe
each symbol's quotes, as they do against TradingView (tvdatafeed keeps one quote session for
all symbols, so its stream grows with each one): for a bars-only benchmark, add
``?tick_interval=3600`` to the replay server's URL to keep quote ticks out of the figure.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import pandas as pd

from candleflow.domain import BAR_COLUMNS, Timeframe

log = logging.getLogger(__name__)

__all__ = ["tvdatafeed_latest", "tvdatafeed_latest_many", "tvkit_latest_many", "tvkit_range"]


def _frame(rows: Iterable[tuple[float, float, float, float, float, float]]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=list(BAR_COLUMNS), dtype="float64")
    frame["ts"] = pd.to_datetime((frame["ts"] * 1e6).astype("int64"), unit="us", utc=True)
    return frame.sort_values("ts").drop_duplicates("ts", keep="last").reset_index(drop=True)


def _tv_code(timeframe: str | Timeframe) -> str:
    return Timeframe.parse(timeframe).tv_resolution


# ----- tvkit -------------------------------------------------------------------------------


@contextlib.contextmanager
def _offline_symbol_check() -> Iterator[None]:
    """tvkit validates each symbol with a GET to tradingview.com; the replay server knows
    its symbols itself (an unknown one gets ``symbol_error``), so skip the HTTP call."""
    from tvkit.api.chart import ohlcv

    async def accept(symbols: object) -> bool:
        return True

    original = ohlcv.validate_symbols
    ohlcv.validate_symbols = accept
    try:
        yield
    finally:
        ohlcv.validate_symbols = original


def tvkit_range(
    url: str,
    symbol: str,
    timeframe: str | Timeframe,
    start: dt.datetime,
    end: dt.datetime,
    *,
    adjustment: str = "splits",
) -> pd.DataFrame:
    """The bars starting in ``[start, end)`` through tvkit's range mode (its bounds are
    inclusive, so it is asked for ``[start, end - 1 s]``), adjusted as tvkit's
    ``Adjustment`` says (``splits``, its default, or ``dividends``)."""
    from tvkit.api.chart import Adjustment
    from tvkit.api.chart.exceptions import NoHistoricalDataError
    from tvkit.api.chart.ohlcv import OHLCV

    async def fetch() -> list[Any]:
        client = OHLCV(max_attempts=1)
        client.ws_url = url
        try:
            return await client.get_historical_ohlcv(
                symbol,
                _tv_code(timeframe),
                start=start,
                end=end - dt.timedelta(seconds=1),
                adjustment=Adjustment(adjustment),
            )
        except NoHistoricalDataError:
            return []
        finally:
            if client.connection_service is not None:
                await client.connection_service.close()

    with _offline_symbol_check():
        bars = asyncio.run(fetch())
    return _frame((b.timestamp, b.open, b.high, b.low, b.close, b.volume) for b in bars)


def tvkit_latest_many(
    url: str, symbols: Iterable[str], timeframe: str | Timeframe, n: int
) -> dict[str, pd.DataFrame]:
    """The newest ``n`` bars of each symbol, one socket for all, through tvkit's session
    setup (``initialize_sessions``, ``add_symbol_to_sessions``) and bar model."""
    return asyncio.run(_tvkit_many(url, list(symbols), _tv_code(timeframe), n))


async def _tvkit_many(url: str, symbols: list[str], code: str, n: int) -> dict[str, pd.DataFrame]:
    from tvkit.api.chart.models.ohlcv import TimescaleUpdateResponse
    from tvkit.api.chart.services.connection_service import ConnectionService
    from tvkit.api.chart.services.message_service import MessageService

    service = ConnectionService(url, max_attempts=1)
    await service.connect()
    if service.ws is None:
        raise RuntimeError(f"tvkit did not connect to {url}")
    messages = MessageService(service.ws)
    send = messages.get_send_message_callable()
    stream = service.get_data_stream()  # one generator: closing it would close the socket
    out: dict[str, pd.DataFrame] = {}
    try:
        for symbol in symbols:
            qs, cs = messages.generate_session("qs_"), messages.generate_session("cs_")
            await service.initialize_sessions(qs, cs, send)
            await service.add_symbol_to_sessions(qs, cs, symbol, code, n, send)
            bars: list[Any] = []
            while True:
                data = await stream.__anext__()
                params = data.get("p") or [None]
                if params[0] != cs:
                    continue
                kind = data.get("m")
                if kind == "timescale_update":
                    bars += TimescaleUpdateResponse.model_validate(data).ohlcv_bars
                elif kind in ("symbol_error", "series_error"):
                    raise ValueError(f"tvkit peer: {kind} for {symbol}: {params[1:]}")
                elif kind == "series_completed":
                    break
            await send("chart_delete_session", [cs])
            await send("quote_delete_session", [qs])
            rows = ((b.timestamp, b.open, b.high, b.low, b.close, b.volume) for b in bars)
            out[symbol] = _frame(rows)
    finally:
        await stream.aclose()
    return out


# ----- tvdatafeed --------------------------------------------------------------------------


_INTERVALS = {"1": "1", "3": "3", "5": "5", "15": "15", "30": "30", "45": "45", "60": "1H"}
_INTERVALS |= {"120": "2H", "180": "3H", "240": "4H", "1D": "1D", "1W": "1W", "1M": "1M"}
_TVDATAFEED_ORIGIN = "https://data.tradingview.com"  # the Origin tvdatafeed sends


def _tvdatafeed(url: str) -> Any:
    """A ``TvDatafeed`` whose socket goes to ``url`` and is kept for every ``get_hist``."""
    from tvDatafeed import TvDatafeed
    from websocket import create_connection

    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode({"heartbeat": 3600})) if q)
    target = parts._replace(query=query).geturl()

    class LocalTvDatafeed(TvDatafeed):
        def _TvDatafeed__create_connection(self) -> None:  # noqa: N802 - the mangled name
            if self.ws is None or not self.ws.connected:
                self.ws = create_connection(target, origin=_TVDATAFEED_ORIGIN, timeout=5)

    return LocalTvDatafeed()


def _tvdatafeed_frame(feed: Any, symbol: str, code: str, n: int) -> pd.DataFrame:
    from tvDatafeed import Interval

    data = feed.get_hist(symbol, interval=Interval(_INTERVALS[code]), n_bars=n)
    if data is None:
        raise ValueError(f"tvdatafeed peer: no data for {symbol}")
    # tvdatafeed stamps bars with datetime.fromtimestamp (local, naive): undo it exactly
    seconds = [ts.timestamp() for ts in data.index.to_pydatetime()]
    values = data[["open", "high", "low", "close", "volume"]].to_numpy().tolist()
    return _frame((t, *v) for t, v in zip(seconds, values, strict=True))


def tvdatafeed_latest(url: str, symbol: str, timeframe: str | Timeframe, n: int) -> pd.DataFrame:
    """The newest ``n`` bars of ``symbol`` through tvdatafeed (count mode, its only mode)."""
    return tvdatafeed_latest_many(url, [symbol], timeframe, n)[symbol]


def tvdatafeed_latest_many(
    url: str, symbols: Iterable[str], timeframe: str | Timeframe, n: int
) -> dict[str, pd.DataFrame]:
    """The newest ``n`` bars of each symbol, ``get_hist`` after ``get_hist`` on one socket."""
    feed, code = _tvdatafeed(url), _tv_code(timeframe)
    try:
        return {symbol: _tvdatafeed_frame(feed, symbol, code, n) for symbol in symbols}
    finally:
        if feed.ws is not None:
            feed.ws.close()
