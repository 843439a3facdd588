"""The symbol rule: what an ``EXCHANGE:TICKER`` may be, checked the same at every door.

Why a module of its own: the CLI, the watchlist, the HTTP API, DAG params and the providers
all refuse a bad symbol with the same words before it reaches the warehouse, whose CHECK on
``instruments.symbol`` would otherwise fail deep inside a load. ``candleflow.domain``
re-exports these names, where the callers import them from.
"""

from __future__ import annotations

#: The longest symbol accepted (the longest real TradingView symbols are about 30 characters).
SYMBOL_MAX_LENGTH = 64
#: The rule of ``candleflow.instruments.symbol`` (its CHECK) as a JSON-schema/regex pattern,
#: for DAG params; ``check_symbol`` applies it, and a little more, in Python.
SYMBOL_PATTERN = r"^[^:\s/]+:[^:\s/]+$"
#: The JSON schema of one symbol, for the ``items`` of a DAG's ``symbols`` param.
SYMBOL_ITEMS = {"type": "string", "pattern": SYMBOL_PATTERN, "maxLength": SYMBOL_MAX_LENGTH}


def check_symbol(symbol: object) -> str:
    """``symbol`` when it is a valid ``EXCHANGE:TICKER``, else ``BadInputError`` saying why.

    Why one rule at every door (CLI, watchlist, API, DAG params, providers): the warehouse
    refuses a symbol that is not one colon between two non-empty parts without whitespace
    (the CHECK of ``instruments.symbol``); a symbol that passed a looser check used to fail
    deep inside a load, taking the other symbols of its transaction with it. Beyond the
    table's rule: at most ``SYMBOL_MAX_LENGTH`` characters, no control characters, and no
    ``/`` (the HTTP API addresses a symbol as one path segment; exchanges' own tickers never
    need it: ccxt's ``XRP/ETH`` is Binance's ``XRPETH``).
    """
    from candleflow.errors import BadInputError

    if not isinstance(symbol, str):
        raise BadInputError(
            f"bad symbol {symbol!r}: a {type(symbol).__name__}; expected text EXCHANGE:TICKER"
        )
    expected = "expected EXCHANGE:TICKER, e.g. NASDAQ:AAPL"
    exchange, _, ticker = symbol.partition(":")
    why = None
    if len(symbol) > SYMBOL_MAX_LENGTH:
        why = f"{len(symbol)} characters, at most {SYMBOL_MAX_LENGTH} allowed"
    elif any(ch.isspace() for ch in symbol):
        why = "whitespace is not allowed"
    elif not symbol.isprintable():
        why = "control characters are not allowed"
    elif symbol.count(":") > 1:
        why = "more than one ':'"
    elif "/" in symbol:
        hint = f" (the exchange's own ticker, e.g. {exchange}:{ticker.replace('/', '')}?)"
        why = "'/' is not allowed" + (hint if exchange and ticker else "")
    if why is None and exchange and ticker:
        return symbol
    shown = repr(symbol if len(symbol) <= 80 else symbol[:77] + "...")
    raise BadInputError(f"bad symbol {shown}" + (f": {why}" if why else "") + f"; {expected}")


def split_symbol(symbol: str) -> tuple[str, str]:
    """``"NASDAQ:AAPL"`` -> ``("NASDAQ", "AAPL")``; a bad symbol raises ``BadInputError`` (a
    ``ValueError``) saying why (``check_symbol``)."""
    exchange, _, ticker = check_symbol(symbol).partition(":")
    return exchange, ticker
