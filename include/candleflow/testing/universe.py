"""The symbols the replay server knows by default: a universe of real-looking names.

Why a catalogue: TradingView answers ``symbol_error`` for a symbol it does not list, so a
typo (``NASDAQ:APPL``) fails there. A server that made up bars for any name let the typo
sync as a success and become a permanent instrument. By default the replay server knows
these names only (``candleflow replay-server --list``) and refuses others as TradingView
does; ``--any-symbol`` (``ReplayServer(any_symbol=True)``) serves any name of an exchange
it models, for tests and benchmarks that invent universes (``NASDAQ:S0001``, ...).

The names are real listings of the exchanges the server models (``synthetic.spec``): XNYS
equities and ETFs of NASDAQ, NYSE and AMEX, the S&P 500 and TVC indices (no volume), and
Binance pairs (24x7). Their bars are synthetic all the same.
"""

from __future__ import annotations

_EQUITIES = {
    "NASDAQ": {
        "AAPL": "Apple Inc.",
        "MSFT": "Microsoft Corporation",
        "AMZN": "Amazon.com, Inc.",
        "NVDA": "NVIDIA Corporation",
        "GOOGL": "Alphabet Inc. Class A",
        "GOOG": "Alphabet Inc. Class C",
        "META": "Meta Platforms, Inc.",
        "TSLA": "Tesla, Inc.",
        "AVGO": "Broadcom Inc.",
        "COST": "Costco Wholesale Corporation",
        "NFLX": "Netflix, Inc.",
        "AMD": "Advanced Micro Devices, Inc.",
        "ADBE": "Adobe Inc.",
        "PEP": "PepsiCo, Inc.",
        "CSCO": "Cisco Systems, Inc.",
        "INTC": "Intel Corporation",
        "QCOM": "QUALCOMM Incorporated",
        "TXN": "Texas Instruments Incorporated",
        "INTU": "Intuit Inc.",
        "AMAT": "Applied Materials, Inc.",
        "SBUX": "Starbucks Corporation",
        "PYPL": "PayPal Holdings, Inc.",
        "ISRG": "Intuitive Surgical, Inc.",
        "BKNG": "Booking Holdings Inc.",
        "MU": "Micron Technology, Inc.",
        "ADP": "Automatic Data Processing, Inc.",
        "GILD": "Gilead Sciences, Inc.",
        "MDLZ": "Mondelez International, Inc.",
        "REGN": "Regeneron Pharmaceuticals, Inc.",
        "VRTX": "Vertex Pharmaceuticals Incorporated",
        "QQQ": "Invesco QQQ Trust, Series 1",
    },
    "NYSE": {
        "IBM": "International Business Machines Corporation",
        "KO": "The Coca-Cola Company",
        "JPM": "JPMorgan Chase & Co.",
        "V": "Visa Inc.",
        "WMT": "Walmart Inc.",
        "JNJ": "Johnson & Johnson",
        "PG": "Procter & Gamble Company",
        "XOM": "Exxon Mobil Corporation",
        "BAC": "Bank of America Corporation",
        "DIS": "The Walt Disney Company",
        "MA": "Mastercard Incorporated",
        "HD": "The Home Depot, Inc.",
        "CVX": "Chevron Corporation",
        "MRK": "Merck & Co., Inc.",
        "PFE": "Pfizer Inc.",
        "T": "AT&T Inc.",
        "VZ": "Verizon Communications Inc.",
        "NKE": "Nike, Inc.",
        "MCD": "McDonald's Corporation",
        "GS": "The Goldman Sachs Group, Inc.",
        "CAT": "Caterpillar Inc.",
        "BA": "The Boeing Company",
        "GE": "GE Aerospace",
        "UNH": "UnitedHealth Group Incorporated",
        "ORCL": "Oracle Corporation",
        "CRM": "Salesforce, Inc.",
        "BRK.B": "Berkshire Hathaway Inc. Class B",
        "SCGLY": "Société Générale 😀",  # astral plane: UTF-16 envelope lengths
    },
    "AMEX": {
        "SPY": "SPDR S&P 500 ETF Trust",
        "DIA": "SPDR Dow Jones Industrial Average ETF Trust",
        "IWM": "iShares Russell 2000 ETF",
        "GLD": "SPDR Gold Shares",
        "SLV": "iShares Silver Trust",
        "XLF": "Financial Select Sector SPDR Fund",
        "XLE": "Energy Select Sector SPDR Fund",
        "XLK": "Technology Select Sector SPDR Fund",
        "VTI": "Vanguard Total Stock Market ETF",
        "VOO": "Vanguard S&P 500 ETF",
    },
    "SP": {"SPX": "S&P 500"},
    "TVC": {
        "DXY": "U.S. Dollar Index",
        "VIX": "CBOE Volatility Index",
        "US10Y": "US 10 Year Government Bonds Yield",
        "GOLD": "Gold Spot",
        "USOIL": "CFDs on WTI Crude Oil",
    },
}

_COINS = {
    "BTC": "Bitcoin",
    "ETH": "Ethereum",
    "BNB": "Binance Coin",
    "SOL": "Solana",
    "XRP": "XRP",
    "ADA": "Cardano",
    "DOGE": "Dogecoin",
    "AVAX": "Avalanche",
    "DOT": "Polkadot",
    "LINK": "Chainlink",
    "LTC": "Litecoin",
    "TRX": "TRON",
    "ATOM": "Cosmos",
    "XLM": "Stellar",
    "NEAR": "NEAR Protocol",
    "UNI": "Uniswap",
}
_QUOTES = {"USDT": "TetherUS", "BTC": "Bitcoin", "ETH": "Ethereum"}
_PAIRS = [(base, "USDT") for base in _COINS] + [
    ("ETH", "BTC"),
    ("BNB", "BTC"),
    ("SOL", "BTC"),
    ("XRP", "BTC"),
    ("XRP", "ETH"),
    ("LINK", "ETH"),
]

SYMBOLS: dict[str, str] = {
    **{f"{ex}:{ticker}": name for ex, names in _EQUITIES.items() for ticker, name in names.items()},
    **{f"BINANCE:{base}{quote}": f"{_COINS[base]} / {_QUOTES[quote]}" for base, quote in _PAIRS},
}
"""Every symbol of the default catalogue and its description."""


def knows(symbol: str) -> bool:
    """Whether ``symbol`` is in the default catalogue."""
    return symbol in SYMBOLS
