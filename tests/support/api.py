"""Fixtures shared by the API and chart-page tests: Airflow's auth in-process, and bars.

Tokens are minted and checked exactly as the api-server does it: the configured auth
manager signs with ``[api_auth] jwt_secret`` (``generate_jwt``) and validates with
``get_user_from_token``, whose revocation check reads the metadata database. So this
process is pointed at the test session's migrated metadata database and given the same
secret the ``airflow_env`` subprocesses get. The conftest offers ``airflow_auth`` to every test.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

UTC = dt.UTC
AIRFLOW_KEYS = ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__API_AUTH__JWT_SECRET")


def _reconfigure_airflow() -> None:
    """Re-read the database URL and forget validators built with another secret."""
    from airflow import settings
    from airflow.api_fastapi.auth.managers.base_auth_manager import BaseAuthManager

    settings.configure_vars()
    settings.reconfigure_orm()
    BaseAuthManager._get_token_validator.__func__.cache_clear()


@dataclass
class Tokens:
    """Mints tokens with Airflow's own signer (``auth_manager.generate_jwt``)."""

    def valid(self, username: str = "admin") -> str:
        from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

        from candleflow.api.auth import auth_manager

        return auth_manager().generate_jwt(SimpleAuthManagerUser(username=username, role="admin"))

    def expired(self) -> str:
        from candleflow.api.auth import auth_manager

        signer = auth_manager()._get_token_signer(expiration_time_in_seconds=60)
        return signer.generate({"sub": "admin", "role": "admin"}, valid_for=-3600)

    def forged(self) -> str:
        """Right claims and audience, signed with a secret the server does not have."""
        from airflow.api_fastapi.auth.tokens import JWTGenerator

        from candleflow.api.auth import auth_manager

        signer = JWTGenerator(
            secret_key="not-the-configured-secret",
            valid_for=600,
            audience=auth_manager()._get_jwt_audience(),
        )
        return signer.generate({"sub": "admin", "role": "admin"})

    def revoke(self, token: str) -> None:
        from candleflow.api.auth import auth_manager

        auth_manager().revoke_token(token)


@pytest.fixture(scope="session")
def airflow_auth(airflow_env: dict[str, str]) -> Iterator[Tokens]:
    """This process configured like the api-server (secret + metadata DB), and a minter."""
    with pytest.MonkeyPatch.context() as patch:
        for key in AIRFLOW_KEYS:
            patch.setenv(key, airflow_env[key])
        _reconfigure_airflow()
        yield Tokens()
    _reconfigure_airflow()


@dataclass(frozen=True)
class Series:
    symbol: str
    timeframe: str
    start: dt.datetime
    count: int
    step: dt.timedelta
    weekdays: bool = False  # a session market: no bars on Saturdays and Sundays

    def stamps(self) -> list[dt.datetime]:
        out, ts = [], self.start
        while len(out) < self.count:
            if not self.weekdays or ts.weekday() < 5:
                out.append(ts)
            ts += self.step
        return out


def insert_instrument(
    conn,
    symbol: str,
    *,
    timezone: str = "Etc/UTC",
    session: str = "24x7",
    description: str = "",
    type_: str = "crypto",
) -> int:
    exchange, ticker = symbol.split(":")
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO candleflow.instruments"
            " (symbol, exchange, ticker, description, type, timezone, session)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (symbol, exchange, ticker, description, type_, timezone, session),
        )
        return cur.fetchone()[0]


def insert_bars(conn, series: Series, instrument_id: int, *, base: float = 100.0) -> None:
    """``series.count`` bars from ``series.start``, a smooth wave with some noise-like wiggle."""
    from psycopg2.extras import execute_values

    rows = []
    for i, ts in enumerate(series.stamps()):
        open_ = base + 10 * math.sin(i / 25) + 2 * math.sin(i / 3)
        close = base + 10 * math.sin((i + 1) / 25) + 2 * math.sin((i + 1) / 3.0)
        high = max(open_, close) + 0.5 + abs(math.sin(i))
        low = min(open_, close) - 0.5 - abs(math.cos(i))
        volume = 1000 + 400 * abs(math.sin(i / 7))
        rows.append((instrument_id, series.timeframe, ts, open_, high, low, close, volume))
    with conn.cursor() as cur:
        execute_values(
            cur,
            "INSERT INTO candleflow.bars"
            " (instrument_id, timeframe, ts, open, high, low, close, volume) VALUES %s",
            rows,
            page_size=5000,
        )
    conn.commit()


def load_series(conn, series: Series, **instrument) -> Series:
    insert_bars(conn, series, insert_instrument(conn, series.symbol, **instrument))
    return series


HOUR, DAY = dt.timedelta(hours=1), dt.timedelta(days=1)
BTC = Series("BINANCE:BTCUSDT", "1h", dt.datetime(2024, 1, 1, tzinfo=UTC), 300, HOUR)
AAPL = Series("NASDAQ:AAPL", "1d", dt.datetime(2024, 1, 2, 14, 30, tzinfo=UTC), 40, DAY)


def bars_url(symbol: str = BTC.symbol, **query) -> str:
    """A bars request of the API (1h of the first day of ``BTC`` unless ``query`` says)."""
    query = {"timeframe": "1h", "start": "2024-01-01", "end": "2024-01-02", **query}
    return f"/api/v1/bars/{symbol}?" + "&".join(f"{k}={v}" for k, v in query.items())
