"""One calendar for every part: an ``LSE:`` instrument trades on XLON sessions everywhere.

Before ``candleflow.calendars`` an LSE bar was validated against London sessions but
resampled, covered and freshness-checked as 24x7 UTC. Each test below would pass for a
24x7 symbol and fails for one that is treated as 24x7. Expected values are London times
worked out by hand from the 2024 XLON calendar (6 May early-May bank holiday closed,
24 December closes at 12:30; 08:00-16:30 Europe/London, BST from 31 March).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from candleflow import calendars, query, watchlist
from candleflow.db import bars as bar_writer
from candleflow.domain import Instrument
from candleflow.services.freshness import check_freshness
from candleflow.validation import validate_bars
from tests.support.query import add_instrument

LONDON = "Europe/London"
VOD = Instrument("LSE:VOD", timezone=LONDON, session="0800-1630")
UTC = dt.UTC


def london(*stamps: str) -> pd.DatetimeIndex:
    return pd.DatetimeIndex([pd.Timestamp(s, tz=LONDON) for s in stamps]).tz_convert("UTC")


def bars_at(ts) -> pd.DataFrame:
    ts = pd.DatetimeIndex(ts).astype("datetime64[us, UTC]")
    rng = np.random.default_rng(3)
    close = 100 + np.cumsum(rng.normal(0, 0.2, len(ts)))
    open_ = np.concatenate([[100.0], close[:-1]])
    return pd.DataFrame(
        {
            "ts": ts,
            "open": open_,
            "high": np.maximum(open_, close) + 0.1,
            "low": np.minimum(open_, close) - 0.1,
            "close": close,
            "volume": rng.integers(1, 100, len(ts)).astype("float64"),
        }
    )


def session_minutes(days: list[str]) -> pd.DatetimeIndex:
    """Every regular-session minute (08:00-16:29 London) of ``days``, in UTC."""
    pieces = [pd.date_range(f"{d} 08:00", f"{d} 16:29", freq="1min", tz=LONDON) for d in days]
    return pd.DatetimeIndex(np.concatenate(pieces)).tz_convert("UTC")


def test_the_one_map_knows_every_exchange_either_map_knew():
    for prefix in ("NASDAQ", "NYSE", "AMEX", "ARCA", "NYSEARCA", "BATS", "SP", "TVC"):
        assert calendars.calendar_name(f"{prefix}:X") == "XNYS"
    assert calendars.calendar_name("LSE:VOD") == "XLON"
    assert calendars.calendar_name("XETR:SAP") == "XETR"
    assert calendars.calendar_name("TSX:RY") == "XTSE"
    assert calendars.calendar_name("BINANCE:BTCUSDT") is None


def test_one_session_parser_reads_tradingview_strings_and_names_bad_input():
    (seg,) = calendars.parse_session("0930-1600:23456")
    assert (seg.opens, seg.closes, seg.length, seg.days) == (
        570,
        960,
        390,
        frozenset({2, 3, 4, 5, 6}),
    )
    overnight, late = calendars.parse_session("1700-1600|1800-2000")
    assert overnight.length == 23 * 60 and late.opens == 18 * 60
    assert calendars.parse_session("24x7") == calendars.WHOLE_DAY
    with pytest.raises(ValueError, match=r"'09:30-16:00'.*HHMM-HHMM"):
        calendars.parse_session("09:30-16:00")
    with pytest.raises(ValueError, match="unknown exchange calendar 'XXXX'"):
        calendars.get_calendar("XXXX")


def test_the_calendar_is_built_once_per_process():
    assert calendars.get_calendar("XLON") is calendars.get_calendar("XLON")
    opens, closes = calendars.session_bounds("XLON")
    assert np.all(np.diff(opens) > 0) and np.all(closes > opens)


def test_lse_bars_are_validated_against_xlon_sessions():
    good = london("2024-05-03 08:00", "2024-05-03 15:00", "2024-05-03 16:00", "2024-12-24 12:00")
    holiday = london("2024-05-06 08:00")  # a Monday, but the early-May bank holiday
    night = london("2024-05-07 02:00")  # on the UTC hour grid, outside the session
    after_early_close = london("2024-12-24 13:00")
    frame = bars_at(good.append([holiday, night, after_early_close]).sort_values())
    result = validate_bars(
        frame,
        instrument=VOD,
        timeframe="1h",
        start=frame["ts"].min(),
        end=frame["ts"].max() + pd.Timedelta(hours=1),
        now=dt.datetime(2100, 1, 1, tzinfo=UTC),
    )
    off = set(result.rejected["ts"])
    assert off == {*holiday, *night, *after_early_close}
    assert set(result.valid["ts"]) == set(good)


def test_lse_bars_are_resampled_along_xlon_sessions(db_url, db):
    iid = add_instrument(db, "LSE:VOD", LONDON, "0800-1630")
    minutes = bars_at(session_minutes(["2024-07-01", "2024-07-02"]))
    with db:
        bar_writer.upsert_bars(db, iid, "1m", minutes, run_id="test")

    daily = query.bars("LSE:VOD", "1d", "2024-07-01", "2024-07-03", url=db_url)
    every_45 = query.bars("LSE:VOD", "45m", "2024-07-01", "2024-07-02", url=db_url)

    # daily bars start at the 08:00 London open (07:00 UTC in summer), not at UTC midnight
    assert list(daily["ts"]) == list(london("2024-07-01 08:00", "2024-07-02 08:00"))
    day = minutes["ts"].dt.tz_convert(LONDON).dt.date
    np.testing.assert_allclose(daily["volume"], minutes.groupby(day)["volume"].sum())
    # 45m buckets are anchored at the open: 08:00, 08:45, ... 15:30, 16:15 (16:15-16:30)
    want = pd.date_range("2024-07-01 08:00", "2024-07-01 16:15", freq="45min", tz=LONDON)
    assert list(every_45["ts"]) == list(want.tz_convert("UTC"))


def test_lse_coverage_expects_xlon_sessions_only(db_url, db):
    iid = add_instrument(db, "LSE:VOD", LONDON, "0800-1630")
    # the whole week of the 6 May holiday, 1h bars 08:00 ... 16:00 London on trading days
    days = ["2024-05-07", "2024-05-08", "2024-05-09", "2024-05-10"]
    ts = [t for d in days for t in pd.date_range(f"{d} 08:00", f"{d} 16:00", freq="1h", tz=LONDON)]
    with db:
        bar_writer.upsert_bars(
            db, iid, "1h", bars_at(pd.DatetimeIndex(ts).tz_convert("UTC")), run_id="t"
        )

    cov = query.coverage("LSE:VOD", "1h", "2024-05-06", "2024-05-11", url=db_url)
    # the last bar (16:00-16:30) ends by the window end, the holiday expects nothing
    assert (cov.expected, cov.present, cov.gaps) == (4 * 9, 4 * 9, [])

    cov = query.coverage("LSE:VOD", "1h", "2024-05-03", "2024-05-11", url=db_url)
    # Friday 3 May is missing: from its 08:00 open to the nominal end of its 16:00 bar
    friday = london("2024-05-03 08:00", "2024-05-03 17:00")
    assert cov.gaps == [(friday[0].to_pydatetime(), friday[1].to_pydatetime())]


def test_lse_freshness_follows_xlon_sessions(db_url, db, tmp_path):
    path = tmp_path / "watchlist.toml"
    path.write_text('symbols = ["LSE:VOD"]\n[timeframes.1h]\n')
    wl = watchlist.load(path)
    iid = add_instrument(db, "LSE:VOD", LONDON, "0800-1630")
    newest = london("2024-07-05 16:00")  # Friday's last bar
    with db:
        bar_writer.upsert_bars(db, iid, "1h", bars_at(newest), run_id="test")

    monday_early = dt.datetime(2024, 7, 8, 6, tzinfo=UTC)  # before the 08:00 BST open
    result = check_freshness(url=db_url, now=monday_early, watchlist=wl, on_stale="fail")
    assert result == {"checked": 1, "stale": 0, "lag_seconds": {"1h": 0.0}}  # 24x7: Monday 03:00
    with db.cursor() as cur:
        cur.execute("SELECT expected_ts FROM candleflow.freshness_checks")
        assert cur.fetchone()[0] == newest[0].to_pydatetime()
