"""The markets the Binance stub serves: their exchangeInfo entries and pre-rendered klines.

Kept apart from the HTTP server because preparing candles is the slow part: every kline row
is rendered to JSON bytes once per interval, so a request costs a slice and a join and the
benchmark measures the client, not the stub. Prices are rendered the way Binance writes them
(``"0.00141300"``: eight decimals), and with the shortest exact form when eight decimals
would change the value, so a client parsing them gets the source file's floats exactly.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from candleflow import config

MINUTE_MS = 60_000
INTERVAL_MS: dict[str, int] = {
    name: minutes * MINUTE_MS
    for name, minutes in {
        "1m": 1, "3m": 3, "5m": 5, "15m": 15, "30m": 30, "1h": 60, "2h": 120, "4h": 240,
        "6h": 360, "8h": 480, "12h": 720, "1d": 1440, "3d": 4320, "1w": 10080,
    }.items()
}  # fmt: skip
WEEK_OFFSET_MS = 4 * 1440 * MINUTE_MS  # Binance weeks start on Monday; 1970-01-01 was a Thursday
SHARED_DATA_ENV = "CANDLEFLOW_SHARED_DATA"


class KlineTable(NamedTuple):
    open_ms: np.ndarray  # int64, sorted
    rows: list[bytes]  # one rendered JSON array per kline


def render(rows: list[bytes]) -> bytes:
    return b"[" + b",".join(rows) + b"]"


@dataclasses.dataclass
class StubMarket:
    """One spot market: its Binance id, assets, filters and candles of one native interval."""

    symbol: str
    base: str
    quote: str
    bars: pd.DataFrame  # ts (UTC bar start), open, high, low, close, volume
    interval: str = "1m"
    tick_size: str = "0.00000001"
    step_size: str = "1.00000000"
    status: str = "TRADING"
    _tables: dict[str, KlineTable] = dataclasses.field(default_factory=dict, repr=False)

    def exchange_info(self) -> dict[str, Any]:
        """The market's entry in ``exchangeInfo.symbols``, in Binance's spot shape."""
        return {
            "symbol": self.symbol,
            "status": self.status,
            "baseAsset": self.base,
            "baseAssetPrecision": 8,
            "quoteAsset": self.quote,
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8,
            "quoteCommissionPrecision": 8,
            "orderTypes": [
                "LIMIT",
                "LIMIT_MAKER",
                "MARKET",
                "STOP_LOSS_LIMIT",
                "TAKE_PROFIT_LIMIT",
            ],
            "icebergAllowed": True,
            "ocoAllowed": True,
            "otoAllowed": True,
            "quoteOrderQtyMarketAllowed": True,
            "allowTrailingStop": True,
            "cancelReplaceAllowed": True,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": self.tick_size,
                    "maxPrice": "1000.00000000",
                    "tickSize": self.tick_size,
                },
                {
                    "filterType": "LOT_SIZE",
                    "minQty": self.step_size,
                    "maxQty": "90000000.00000000",
                    "stepSize": self.step_size,
                },
                {"filterType": "ICEBERG_PARTS", "limit": 10},
                {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
            ],
            "permissions": [],
            "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
        }

    def klines(self, interval: str) -> KlineTable:
        """Rendered klines for ``interval`` (built on first use, then cached)."""
        if interval not in self._tables:
            self._tables[interval] = _render_table(self._frame(interval), interval)
        return self._tables[interval]

    def _frame(self, interval: str) -> pd.DataFrame:
        if interval == self.interval:
            return self.bars
        native = INTERVAL_MS.get(self.interval)
        target = INTERVAL_MS.get(interval)
        if interval != "1M" and (target is None or native is None or target % native):
            return self.bars.iloc[0:0]  # finer than the data: the stub has nothing to serve
        ts_ms = _epoch_ms(self.bars["ts"])
        if interval == "1M":
            buckets = self.bars["ts"].dt.tz_localize(None).dt.to_period("M").dt.start_time
            key = pd.DatetimeIndex(buckets).tz_localize("UTC")
        else:
            offset = WEEK_OFFSET_MS if interval == "1w" else 0
            key = pd.to_datetime((ts_ms - offset) // target * target + offset, unit="ms", utc=True)
        grouped = self.bars.groupby(key, sort=True)
        frame = grouped.agg(
            open=("open", "first"),
            high=("high", "max"),
            low=("low", "min"),
            close=("close", "last"),
            volume=("volume", "sum"),
        )
        return frame.rename_axis("ts").reset_index()


def _epoch_ms(ts: pd.Series) -> np.ndarray:
    return ts.dt.as_unit("ms").astype("int64").to_numpy()


def _decimal(values: np.ndarray) -> list[str]:
    """Binance's eight-decimal strings, or the shortest exact form where eight would round."""
    eight = np.char.mod("%.8f", values)
    exact = eight.astype("float64") == values
    return [e if ok else repr(float(v)) for e, ok, v in zip(eight, exact, values, strict=True)]


def _render_table(frame: pd.DataFrame, interval: str) -> KlineTable:
    open_ms = _epoch_ms(frame["ts"])
    if interval == "1M":
        close_ms = _epoch_ms(frame["ts"] + pd.offsets.MonthBegin(1)) - 1
    else:
        close_ms = open_ms + INTERVAL_MS[interval] - 1
    cols = [_decimal(frame[c].to_numpy("float64")) for c in ("open", "high", "low", "close")]
    volume = frame["volume"].to_numpy("float64")
    vol, quote_vol = _decimal(volume), _decimal(volume * frame["close"].to_numpy("float64"))
    rows = [
        # trade counts and taker volumes are not in OHLCV files: 0, as for an empty kline
        f'[{t},"{o}","{h}","{lo}","{c}","{v}",{e},"{q}",0,"0","0","0"]'.encode()
        for t, o, h, lo, c, v, e, q in zip(
            open_ms.tolist(), *cols, vol, close_ms.tolist(), quote_vol, strict=True
        )
    ]
    return KlineTable(open_ms, rows)


def shared_data_root() -> Path:
    override = config.setting(SHARED_DATA_ENV)
    return Path(override) if override else Path(__file__).resolve().parents[4] / "shared" / "data"


def freqtrade_markets(root: Path | None = None) -> list[StubMarket]:
    """XRPETH (1m) and ETHBTC (5m): the real Binance candles of freqtrade's test data."""
    folder = (root or shared_data_root()) / "freqtrade"
    specs = [
        ("XRPETH", "XRP", "ETH", "XRP_ETH-1m.feather", "1m", "0.00000001", "1.00000000"),
        ("ETHBTC", "ETH", "BTC", "ETH_BTC-5m.feather", "5m", "0.00000100", "0.00100000"),
    ]
    markets = []
    for symbol, base, quote, name, interval, tick, step in specs:
        path = folder / name
        if not path.exists():
            raise FileNotFoundError(
                f"{path} is missing: the stub serves the shared freqtrade candles "
                f"(set {SHARED_DATA_ENV}, or pass markets=[...])"
            )
        bars = pd.read_feather(path).rename(columns={"date": "ts"})
        markets.append(StubMarket(symbol, base, quote, bars, interval, tick, step))
    return markets


def synthetic_market(
    symbol: str, base: str, quote: str, start: str, end: str, *, seed: int = 0
) -> StubMarket:
    """A seeded 1m random walk over ``[start, end)`` with cent ticks (benchmark data)."""
    ts = pd.date_range(start, end, freq="1min", inclusive="left", tz="UTC")
    rng = np.random.default_rng(seed)
    close = np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.0005, len(ts)))), 2)
    open_ = np.concatenate([[close[0]], close[:-1]])
    spread = np.round(np.abs(rng.normal(0, 0.03, len(ts))), 2)
    bars = pd.DataFrame(
        {
            "ts": ts,
            "open": open_,
            "high": np.round(np.maximum(open_, close) + spread, 2),
            "low": np.round(np.maximum(np.minimum(open_, close) - spread, 0.01), 2),
            "close": close,
            "volume": np.round(rng.gamma(2.0, 5.0, len(ts)), 5),
        }
    )
    return StubMarket(symbol, base, quote, bars, "1m", "0.01000000", "0.00001000")
