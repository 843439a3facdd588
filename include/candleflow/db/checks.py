"""The writers of ``candleflow.freshness_checks`` and ``candleflow.health_checks``, and the
read the freshness check needs: when and whether to check is ``services.freshness`` and
``services.health``' policy; these only record what they decided."""

from __future__ import annotations

import datetime as dt


def newest_bar(
    cur, symbol: str, timeframe: str, session: str = "regular"
) -> tuple[int, str, dt.datetime | None] | None:
    """``(instrument_id, timezone, newest ts)`` of one series (``session``: the regular or the
    extended-hours series of the symbol); None for an unknown symbol."""
    cur.execute(
        # plain rows are newer than compressed (closed) months when both exist
        "SELECT i.id, i.timezone, coalesce((SELECT max(ts) FROM candleflow.bars b"
        " WHERE b.instrument_id = i.id AND b.timeframe = %s),"
        " (SELECT max(last_ts) FROM candleflow.bar_segments g"
        " WHERE g.instrument_id = i.id AND g.timeframe = %s))"
        " FROM candleflow.instruments i WHERE i.symbol = %s AND i.series_session = %s",
        (timeframe, timeframe, symbol, session),
    )
    return cur.fetchone()


def record_freshness(
    cur,
    instrument_id: int,
    timeframe: str,
    *,
    run_id: str | None,
    newest: dt.datetime,
    expected: dt.datetime | None,
    lag: dt.timedelta | None,
) -> None:
    """One series' check; ``lag`` is set only when it is stale."""
    cur.execute(
        "INSERT INTO candleflow.freshness_checks (run_id, instrument_id, timeframe,"
        " newest_ts, expected_ts, is_stale, lag) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (run_id, instrument_id, timeframe, newest, expected, lag is not None, lag),
    )


def record_health(
    conn, *, ok: bool, version: int, expected: int, detail: str, run_id: str | None
) -> None:
    """One warehouse health check, committed."""
    with conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO candleflow.health_checks"
            " (ok, schema_version, expected_version, detail, run_id)"
            " VALUES (%s, %s, %s, %s, %s)",
            (ok, version, expected, detail, run_id),
        )
