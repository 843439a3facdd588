"""``candleflow.query``'s read-only connection pool: reused, replaced when terminated, bounded
in time (statement and connect timeouts), and the version connection."""

from __future__ import annotations

import pandas as pd
import pytest

from candleflow import query
from tests.support.query import add_instrument, load, make_bars


def _query_backends(db) -> list[int]:
    """Backend pids of the query module's sessions on this test's database (a transaction of
    its own: pg_stat_activity is a snapshot per transaction)."""
    with db, db.cursor() as cur:
        cur.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'candleflow-query'"
            " AND datname = current_database() ORDER BY pid"
        )
        return [row[0] for row in cur.fetchall()]


def test_calls_reuse_one_read_only_connection(db_url, db):
    iid = add_instrument(db, "BINANCE:BTCUSDT")
    load(db, iid, "1m", make_bars(pd.date_range("2024-03-01", periods=5, freq="1min", tz="UTC")))

    for _ in range(3):
        assert len(query.bars("BINANCE:BTCUSDT", "1m", "2024-03-01", "2024-03-02")) == 5
    first = _query_backends(db)
    query.instruments()

    assert len(first) == 1 and _query_backends(db) == first
    with db, db.cursor() as cur:  # idle in autocommit: no open transaction holding locks
        cur.execute("SELECT state FROM pg_stat_activity WHERE pid = %s", (first[0],))
        assert cur.fetchone()[0] == "idle"


def test_a_terminated_pooled_connection_is_replaced_on_the_next_call(db_url, db):
    iid = add_instrument(db, "BINANCE:BTCUSDT")
    loaded = make_bars(pd.date_range("2024-03-01", periods=5, freq="1min", tz="UTC"))
    load(db, iid, "1m", loaded)
    query.bars("BINANCE:BTCUSDT", "1m", "2024-03-01", "2024-03-02")
    (killed,) = _query_backends(db)
    with db, db.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(%s, 5000)", (killed,))
        assert cur.fetchone()[0] is True

    got = query.bars("BINANCE:BTCUSDT", "1m", "2024-03-01", "2024-03-02")

    assert got["close"].tolist() == loaded["close"].tolist()
    assert _query_backends(db) not in ([], [killed])
    # the replacement is pooled (and still read-only) like the one it replaced
    import adbc_driver_manager

    with query._cursor(None) as cur, pytest.raises(adbc_driver_manager.Error, match="read-only"):
        cur.execute("CREATE TABLE public.should_fail (a int)")


def _setting(name: str, url: str | None = None) -> str:
    from candleflow.query import tables

    return tables._frame(f"SELECT current_setting('{name}') AS v", url=url)["v"].iloc[0]


def test_pooled_sessions_have_a_statement_timeout_and_a_long_read_is_cancelled(db_url, monkeypatch):
    from candleflow.query import pool, tables

    assert _setting("statement_timeout") == pool.STATEMENT_TIMEOUT == "30s"
    monkeypatch.setattr(pool, "STATEMENT_TIMEOUT", "300ms")
    pool.read_only_url.cache_clear()
    pool._resolved.clear()
    try:
        assert _setting("statement_timeout") == "300ms"
        with pytest.raises(pool.QueryTimeout, match=r"statement timeout \(300ms\)"):
            tables._frame("SELECT pg_sleep(5)")
        assert _setting("application_name") == "candleflow-query"  # the pool still works
    finally:
        pool.read_only_url.cache_clear()
        pool._resolved.clear()


def test_a_keyword_dsn_reads_like_a_url(db_url, db):
    from psycopg2.extensions import make_dsn, parse_dsn

    iid = add_instrument(db, "BINANCE:BTCUSDT")
    load(db, iid, "1m", make_bars(pd.date_range("2024-03-01", periods=5, freq="1min", tz="UTC")))
    keywords = make_dsn(**parse_dsn(db_url))
    assert "://" not in keywords

    got = query.bars("BINANCE:BTCUSDT", "1m", "2024-03-01", "2024-03-02", url=keywords)

    assert len(got) == 5 and _setting("default_transaction_read_only", keywords) == "on"


def test_a_server_that_never_answers_fails_the_connect_after_the_timeout(monkeypatch):
    """A listener that accepts and then stays silent: without a connect timeout libpq waits
    until the peer closes (here after 30 s), and the error would say so instead."""
    import socket
    import threading

    from candleflow.errors import DatabaseUnavailable
    from candleflow.query import pool

    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    done = threading.Event()

    def silent() -> None:
        listener.settimeout(30)
        try:
            accepted.append(listener.accept()[0])
            done.wait(30)
        except OSError:
            pass
        finally:
            for peer in accepted:
                peer.close()

    threading.Thread(target=silent, daemon=True).start()
    monkeypatch.setattr(pool, "CONNECT_TIMEOUT_S", 1)
    pool.read_only_url.cache_clear()
    url = f"postgresql://reader:hunter2@127.0.0.1:{listener.getsockname()[1]}/x"
    try:
        with pytest.raises(DatabaseUnavailable) as caught:
            query.instruments(url=url)
    finally:
        done.set()
        listener.close()
        pool.read_only_url.cache_clear()
    assert "timeout expired" in str(caught.value)
    assert "hunter2" not in str(caught.value) and "reader" not in str(caught.value)


def test_a_terminated_version_connection_is_replaced(db_url, db):
    iid = add_instrument(db, "BINANCE:BTCUSDT")
    load(db, iid, "1m", make_bars(pd.date_range("2024-03-01", periods=5, freq="1min", tz="UTC")))
    before = query.bar_version("BINANCE:BTCUSDT")
    with db, db.cursor() as cur:
        cur.execute(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
            " WHERE application_name = 'candleflow-query' AND datname = current_database()"
        )
    assert query.bar_version("BINANCE:BTCUSDT") == before
    load(
        db,
        iid,
        "1m",
        make_bars(pd.date_range("2024-03-01 00:05", periods=1, freq="1min", tz="UTC")),
    )
    assert query.bar_version("BINANCE:BTCUSDT") != before
    assert query.bar_version("NASDAQ:NOPE") is None
