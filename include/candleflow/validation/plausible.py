"""The earliest time a bar or tick of an instrument can plausibly carry.

Why: epoch-unit mistakes look like history. Seconds read as milliseconds land in January
1970, nanoseconds read as microseconds (or a zero date) in 1677 or the year 1; such rows are
real timestamps, so no parser refuses them, and stored they would be rolled up and charted.
A floor per instrument catches them:

- crypto venues (``CRYPTO_VENUES``): 2009-01-03, the first block of Bitcoin: no crypto
  pair traded before;
- everything else, for ticks and intraday bars: 1980-01-01: no venue kept intraday or tick
  records before (the oldest trade-and-quote archives start in the 1980s and 1990s);
- everything else, for daily and longer bars: 1800-01-01 (exchange-traded prices are
  recorded from the 1790s on; a 1970 daily bar of an equity is real history).

The rules that use it: ``plausible_ts`` (bars, ``validation.rules``) and ``implausible_ts``
(ticks, ``validation.ticks``). The future side is theirs already (``not_forming``,
``future``).
"""

from __future__ import annotations

import datetime as dt

UTC = dt.UTC
CRYPTO_SINCE = dt.datetime(2009, 1, 3, tzinfo=UTC)
INTRADAY_SINCE = dt.datetime(1980, 1, 1, tzinfo=UTC)
DAILY_SINCE = dt.datetime(1800, 1, 1, tzinfo=UTC)
CRYPTO_VENUES = frozenset(
    {
        "BINANCE", "BINANCEUS", "BITFINEX", "BITGET", "BITMEX", "BITSTAMP", "BYBIT",
        "COINBASE", "CRYPTO", "CRYPTOCAP", "DERIBIT", "GATEIO", "GEMINI", "HUOBI", "KRAKEN",
        "KUCOIN", "MEXC", "OKX", "POLONIEX", "UPBIT",
    }
)  # fmt: skip


def earliest(symbol: str, *, intraday: bool = True) -> dt.datetime:
    """The earliest plausible bar start or tick time of ``symbol`` (``EXCHANGE:TICKER``)."""
    if symbol.partition(":")[0].strip().upper() in CRYPTO_VENUES:
        return CRYPTO_SINCE
    return INTRADAY_SINCE if intraday else DAILY_SINCE
