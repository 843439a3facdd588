"""Symbol search over TradingView's HTTP endpoint (v3) and ``symbol_resolved`` mapping.

Why the headers: since 2024 the endpoint rejects requests whose Origin or Referer is not
TradingView's own site. HTTP 429 and 5xx are transient; the caller's
``RetryPolicy`` backs off and Airflow retries after that.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from candleflow.domain import Instrument
from candleflow.errors import ProtocolError, ProviderDisconnected, ProviderError, ProviderTimeout
from candleflow.providers.tradingview.client import ORIGIN

log = logging.getLogger(__name__)

DEFAULT_SEARCH_URL = "https://symbol-search.tradingview.com/symbol_search/v3/"
HEADERS = {"Origin": ORIGIN, "Referer": ORIGIN + "/"}
_EM = re.compile(r"</?em>")
PROVIDER = "tradingview"


def search_symbols(
    base_url: str, text: str, *, type: str | None, exchange: str | None, timeout: float
) -> list[Instrument]:
    """One page (up to 50 results) of the v3 search, mapped to ``Instrument``."""
    import requests

    text = text.strip()
    if ":" in text and not exchange:  # "NASDAQ:AAP" searches AAP on NASDAQ, as the site does
        exchange, _, text = text.partition(":")
    params = {
        "text": text.upper(),
        "hl": "1",
        "exchange": (exchange or "").upper(),
        "lang": "en",
        "search_type": type or "",
        "domain": "production",
        "sort_by_country": "US",
        "start": "0",
    }
    try:
        response = requests.get(base_url, params=params, headers=HEADERS, timeout=timeout)
    except requests.Timeout as exc:
        raise ProviderTimeout(f"symbol search timed out after {timeout}s") from exc
    except requests.ConnectionError as exc:
        raise ProviderDisconnected(f"symbol search unreachable: {exc}") from exc
    status = response.status_code
    if status == 429 or status >= 500:
        raise ProviderDisconnected(f"symbol search answered HTTP {status}")
    if status != 200:
        raise ProviderError(f"symbol search answered HTTP {status}", reason=str(status))
    try:
        body = response.json()
    except ValueError as exc:
        raise ProtocolError(f"symbol search returned non-JSON: {exc}") from None
    rows = body.get("symbols", []) if isinstance(body, dict) else body  # v1 sent a bare list
    found = [from_search(row) for row in rows if isinstance(row, dict) and row.get("symbol")]
    log.info(
        "tradingview search %r (type=%s, exchange=%s): %d results", text, type, exchange, len(found)
    )
    return found


def _plain(text: Any) -> str:
    return _EM.sub("", str(text or ""))


def from_search(row: dict[str, Any]) -> Instrument:
    """A search hit as an ``Instrument``; the id is ``prefix:symbol`` or ``EXCHANGE:symbol``.

    ``exchange`` can be a display name such as "Cboe One", hence its first word only.
    """
    ticker = _plain(row["symbol"])
    prefix = row.get("prefix") or _plain(row.get("exchange")).split(" ")[0].upper()
    return Instrument(
        symbol=f"{prefix}:{ticker}",
        description=_plain(row.get("description")),
        type=str(row.get("type") or ""),
        currency=str(row.get("currency_code") or ""),
        provider=PROVIDER,
        extra={k: row[k] for k in ("country", "isin", "typespecs", "provider_id") if k in row},
    )


def from_resolved(symbol: str, info: dict[str, Any]) -> Instrument:
    """``symbol_resolved`` info as an ``Instrument``, keeping the canonical pro name."""
    canonical = info.get("pro_name") or info.get("full_name") or symbol
    if ":" not in str(canonical):
        canonical = symbol
    extra_keys = (
        "exchange",
        "listed_exchange",
        "name",
        "minmov",
        "has_intraday",
        "visible_plots_set",
        "session_holidays",
        "update_mode",
        "has_adjustment",
        "allowed_adjustment",
    )
    return Instrument(
        symbol=str(canonical),
        description=str(info.get("description") or ""),
        type=str(info.get("type") or ""),
        currency=str(info.get("currency_code") or ""),
        timezone=str(info.get("timezone") or "Etc/UTC"),
        session=str(info.get("session") or "24x7"),
        price_scale=int(info.get("pricescale") or 1),
        provider=PROVIDER,
        extra={k: info[k] for k in extra_keys if k in info},
    )
