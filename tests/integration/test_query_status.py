"""``candleflow.query``'s status reads: coverage and its gaps, sync status from the load audit,
latest quotes, instrument search."""

from __future__ import annotations

import pandas as pd

from candleflow import query
from candleflow.db import audit
from tests.support.query import NY, add_instrument, load, make_bars


def test_coverage_lists_gaps_and_ignores_holidays(db_url, db):
    iid = add_instrument(db, "NASDAQ:AAPL", NY, "0930-1600")
    grid = pd.DatetimeIndex(
        [
            pd.Timestamp(f"2024-07-{d} {h}:30", tz=NY).tz_convert("UTC")
            for d, hours in [
                ("03", "9 10 11 12"),
                ("05", "9 10 11 12 13 14 15"),
                ("08", "9 10 11 12 13 14 15"),
            ]
            for h in hours.split()
        ]
    )
    hole = [pd.Timestamp(f"2024-07-05 {h}:30", tz=NY) for h in ("11", "12")]
    kept = grid[~grid.isin(pd.DatetimeIndex(hole).tz_convert("UTC"))]
    load(db, iid, "1h", make_bars(kept))

    cov = query.coverage("NASDAQ:AAPL", "1h", "2024-07-03", "2024-07-09")

    assert cov.expected == 18 and cov.present == 16 and cov.missing == 2  # 07-04: no session
    assert cov.gaps == [
        (
            hole[0].tz_convert("UTC").to_pydatetime(),
            (hole[1] + pd.Timedelta(hours=1)).tz_convert("UTC").to_pydatetime(),
        )
    ]
    assert cov.first == kept[0] and cov.last == kept[-1] and cov.bars == 16


def test_coverage_of_a_24x7_daily_series(db_url, db):
    iid = add_instrument(db, "BINANCE:BTCUSDT")
    days = pd.date_range("2024-03-01", "2024-03-10", freq="D", tz="UTC")
    load(db, iid, "1d", make_bars(days.delete([4])))

    cov = query.coverage("BINANCE:BTCUSDT", "1d", "2024-03-01", "2024-03-11")

    assert (cov.expected, cov.present) == (10, 9)
    assert cov.gaps == [(days[4].to_pydatetime(), days[5].to_pydatetime())]


def _audit(db, iid, symbol, outcome, finished, **extra):
    start = pd.Timestamp("2024-03-01", tz="UTC").to_pydatetime()
    record = audit.AuditRecord(
        run_id=extra.pop("run_id", f"run-{finished}"),
        instrument_id=iid,
        symbol=symbol,
        timeframe="1m",
        provider="files",
        window_start=start,
        window_end=start + pd.Timedelta(hours=1),
        outcome=outcome,
        started_at=start,
        **extra,
    )
    with db, db.cursor() as cur:
        audit_id = audit.write_audit(db, record)
        cur.execute(
            "UPDATE candleflow.load_audit SET finished_at = %s WHERE id = %s",
            (pd.Timestamp(finished, tz="UTC").to_pydatetime(), audit_id),
        )


def test_sync_status_shows_the_last_load_and_validation_result_the_stored_json(db_url, db):
    iid = add_instrument(db, "BINANCE:BTCUSDT")
    _audit(db, iid, "BINANCE:BTCUSDT", "success", "2024-03-01 01:00", rows_inserted=60)
    validation = {"gx_success": False, "rules": {"high_ge_low": 2}, "expectations": [1, 2]}
    _audit(
        db,
        iid,
        "BINANCE:BTCUSDT",
        "rejected",
        "2024-03-01 02:00",
        run_id="r2",
        rows_fetched=10,
        rows_rejected=7,
        validation=validation,
    )

    status = query.sync_status()
    result = query.validation_result("r2", "BINANCE:BTCUSDT")

    assert len(status) == 1
    row = status.iloc[0]
    assert (row["outcome"], row["run_id"], row["rows_fetched"], row["rows_rejected"]) == (
        "rejected",
        "r2",
        10,
        7,
    )
    assert result == validation
    assert query.validation_result("no-such-run") is None


def test_latest_quotes_fall_back_to_the_last_bar_close(db_url, db):
    btc, eth = add_instrument(db, "BINANCE:BTCUSDT"), add_instrument(db, "BINANCE:ETHUSDT")
    with db, db.cursor() as cur:
        cur.executemany(
            "INSERT INTO candleflow.ticks (instrument_id, ts, price, size, day_volume, bid, ask)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [
                (btc, "2024-03-01 00:00:01+00", 10.0, 1.0, 5.0, 10.9, 11.1),
                (btc, "2024-03-01 00:00:02+00", 11.0, 2.0, 7.0, 10.95, 11.05),
            ],
        )
    bars = make_bars(pd.date_range("2024-03-01", periods=3, freq="1min", tz="UTC"))
    load(db, eth, "1m", bars)

    quotes = query.latest_quotes(["BINANCE:ETHUSDT", "BINANCE:BTCUSDT", "NOPE:X"])

    assert list(quotes["symbol"]) == ["BINANCE:BTCUSDT", "BINANCE:ETHUSDT"]
    btc_q, eth_q = quotes.iloc[0], quotes.iloc[1]
    assert (btc_q["price"], btc_q["bid"], btc_q["ask"], btc_q["day_volume"], btc_q["origin"]) == (
        11.0,
        10.95,
        11.05,
        7.0,
        "tick",
    )
    assert eth_q["price"] == bars["close"].iloc[-1] and eth_q["origin"] == "bar"
    assert eth_q["ts"] == bars["ts"].iloc[-1] + pd.Timedelta(minutes=1)


def test_instruments_search_and_filters(db_url, db):
    for symbol in ("NASDAQ:AAPL", "NASDAQ:MSFT", "BINANCE:BTCUSDT"):
        add_instrument(db, symbol)

    assert list(query.instruments("aap")["symbol"]) == ["NASDAQ:AAPL"]
    assert list(query.instruments(exchange="NASDAQ")["symbol"]) == ["NASDAQ:AAPL", "NASDAQ:MSFT"]
    assert query.instruments("'; DROP TABLE x;--").empty
    assert len(query.instruments()) == 3
