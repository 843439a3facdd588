"""Bar validation: each rule rejects exactly the rows built to break it, GX really runs.

Frames are built by hand: a clean series, then one value changed per test, so every
assertion names the rows and the rule that must come out.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from candleflow.db.rejects import write_rejected_bars
from candleflow.domain import BAR_COLUMNS, Instrument
from candleflow.errors import BadInputError
from candleflow.validation import REJECT_RULES, validate_bars
from tests.support.shared_data import shared_data

BTC = Instrument("BINANCE:BTCUSDT")
IBM = Instrument("NYSE:IBM", timezone="America/New_York", session="0930-1600")
SPY = Instrument("AMEX:SPY", timezone="America/New_York", session="0930-1600")
FAR_FUTURE = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


def clean_bars(n: int = 6, start: str = "2024-01-01", freq: str = "1h") -> pd.DataFrame:
    ts = pd.date_range(start, periods=n, freq=freq, tz="UTC").as_unit("us")
    return pd.DataFrame(
        {"ts": ts, "open": 100.0, "high": 102.0, "low": 98.0, "close": 101.0, "volume": 10.0}
    )


def run(bars: pd.DataFrame, instrument: Instrument = BTC, timeframe: str = "1h", **kw):
    kw.setdefault("start", bars["ts"].min())
    kw.setdefault("end", bars["ts"].max() + pd.Timedelta(days=1))
    kw.setdefault("now", FAR_FUTURE)
    return validate_bars(bars, instrument=instrument, timeframe=timeframe, **kw)


def rejected_rules(result) -> dict[str, list[str]]:
    return {
        ts.isoformat(): rules
        for ts, rules in zip(result.rejected["ts"], result.rejected["rules"], strict=True)
    }


BROKEN = {
    "high_ge_max_open_close": {"high": 100.5},  # below close 101
    "low_le_min_open_close": {"low": 100.5},  # above open 100
    "high_ge_low": {"high": 97.0, "open": 97.0, "close": 97.0, "low": 97.5},
    "low_positive": {"low": 0.0},
    "volume_non_negative": {"volume": -1.0},
    "not_null": {"close": np.nan},
}


@pytest.mark.parametrize("rule", sorted(BROKEN))
def test_each_rule_rejects_exactly_the_broken_row(rule):
    bars = clean_bars()
    for col, value in BROKEN[rule].items():
        bars.loc[3, col] = value
    result = run(bars)
    expected_rules = [rule] if rule != "high_ge_low" else ["low_le_min_open_close", "high_ge_low"]
    assert rejected_rules(result) == {"2024-01-01T03:00:00+00:00": expected_rules}
    assert len(result.valid) == 5
    assert result.summary["rules"][rule] == 1
    assert result.rejected_share == pytest.approx(1 / 6)


def test_a_row_breaking_several_rules_lists_all_of_them():
    bars = clean_bars()
    bars.loc[2, ["low", "volume"]] = [-1.0, -5.0]
    bars.loc[2, "ts"] = bars.loc[2, "ts"] + pd.Timedelta(minutes=30)
    result = run(bars)
    assert result.rejected["rules"].tolist() == [["low_positive", "volume_non_negative", "on_grid"]]


def test_window_and_forming_bars_are_rejected():
    bars = clean_bars(n=6)
    start, end = bars["ts"][1], bars["ts"][5]
    now = bars["ts"][4] + pd.Timedelta(minutes=30)  # bar 4 still forming
    result = run(bars, start=start, end=end, now=now)
    assert rejected_rules(result) == {
        "2024-01-01T00:00:00+00:00": ["in_window"],
        "2024-01-01T04:00:00+00:00": ["not_forming"],
        "2024-01-01T05:00:00+00:00": ["in_window", "not_forming"],
    }


def test_conflicting_duplicates_reject_the_whole_group_identical_ones_collapse():
    bars = clean_bars()
    conflict = bars.iloc[[2]].assign(close=99.0)
    identical = bars.iloc[[4]]
    result = run(pd.concat([bars, conflict, identical], ignore_index=True))
    assert result.rejected["rules"].tolist() == [["unique_ts"], ["unique_ts"]]
    assert sorted(r["close"] for r in result.rejected["raw"]) == [99.0, 101.0]
    assert result.summary["duplicates_collapsed"] == 1
    assert result.summary["rows_checked"] == 7
    assert len(result.valid) == 5 and result.valid["ts"].is_unique


def test_xnys_hourly_grid_starts_at_the_session_open():
    ts = pd.to_datetime(
        [
            "2024-01-16 14:30",
            "2024-01-16 15:30",  # 09:30, 10:30 New York (winter)
            "2024-01-16 15:00",  # 10:00 New York: off the grid
            "2024-07-16 13:30",
            "2024-07-16 14:30",  # 09:30, 10:30 New York (summer)
            "2024-07-16 14:00",  # 10:00 New York (summer): off the grid
            "2024-01-16 21:00",  # 16:00: the session has closed
        ],
        utc=True,
    ).as_unit("us")
    bars = clean_bars(len(ts)).assign(ts=ts)
    result = run(bars, IBM)
    assert rejected_rules(result) == {
        "2024-01-16T15:00:00+00:00": ["on_grid"],
        "2024-07-16T14:00:00+00:00": ["on_grid"],
        "2024-01-16T21:00:00+00:00": ["on_grid"],
    }


def test_session_string_grid_without_a_calendar():
    """No exchange_calendars calendar: the session string's open, days and tz decide."""
    fx = Instrument("FOO:BAR", timezone="Europe/Berlin", session="0900-1730:23456")
    ts = pd.to_datetime(
        [
            "2024-01-16 08:00",
            "2024-01-16 15:00",  # 09:00, 16:00 Berlin (winter)
            "2024-07-16 07:00",  # 09:00 Berlin (summer)
            "2024-01-16 08:30",  # 09:30: off the grid
            "2024-01-20 08:00",  # a Saturday: not a session day
        ],
        utc=True,
    ).as_unit("us")
    result = run(clean_bars(len(ts)).assign(ts=ts), fx)
    assert sorted(rejected_rules(result)) == [
        "2024-01-16T08:30:00+00:00",
        "2024-01-20T08:00:00+00:00",
    ]
    odd = Instrument("FOO:BAR", timezone="Europe/Berlin", session="regular hours")
    # an unparseable session is logged and the grid falls back to local midnight: every day
    # counts, only the 09:30 Berlin bar is off the hour
    odd_result = run(clean_bars(len(ts)).assign(ts=ts), odd)
    assert sorted(rejected_rules(odd_result)) == ["2024-01-16T08:30:00+00:00"]


def test_binance_hourly_bars_lie_on_the_hour():
    bars = clean_bars(4)
    bars.loc[2, "ts"] = bars.loc[2, "ts"] + pd.Timedelta(minutes=30)
    result = run(bars, BTC)
    assert rejected_rules(result) == {"2024-01-01T02:30:00+00:00": ["on_grid"]}


def test_daily_bars_at_session_open_or_midnight_pass_other_times_fail():
    ts = pd.to_datetime(
        ["2024-01-16 00:00", "2024-01-17 05:00", "2024-01-18 14:30", "2024-01-19 15:00"],
        utc=True,
    ).as_unit("us")
    bars = clean_bars(len(ts)).assign(ts=ts)
    result = run(bars, IBM, "1d")
    assert sorted(rejected_rules(result)) == ["2024-01-19T15:00:00+00:00"]
    result_btc = run(bars, BTC, "1d")
    assert len(result_btc.rejected) == 3  # 24x7: only UTC midnight


def test_price_jump_flags_but_does_not_reject():
    bars = clean_bars()
    bars.loc[3, ["open", "high", "low", "close"]] = [200.0, 260.0, 195.0, 250.0]
    result = run(bars)
    assert result.rejected.empty and len(result.valid) == 6
    assert result.flagged["ts"].dt.hour.tolist() == [3, 4]  # the jump and the way back
    assert result.flagged["rules"].tolist() == [["price_jump"], ["price_jump"]]
    assert result.summary["rows_flagged"] == 2
    assert run(bars, jump_threshold=None).flagged.empty
    rejecting = run(bars, flag_jumps=False)
    assert rejecting.flagged.empty
    assert rejecting.rejected["rules"].tolist() == [["price_jump"], ["price_jump"]]


def test_jump_is_measured_against_the_previous_valid_bar():
    bars = clean_bars()
    bars.loc[2, ["open", "high", "low", "close"]] = [1.0, 1.0, 1.0, 1.0]  # a broken spike
    bars.loc[2, "low"] = -1.0
    result = run(bars)
    assert rejected_rules(result) == {"2024-01-01T02:00:00+00:00": ["low_positive"]}
    assert result.flagged.empty


def test_nan_and_infinite_prices_are_missing_and_raw_is_json():
    bars = clean_bars()
    bars.loc[1, "open"] = np.nan
    bars.loc[4, "high"] = np.inf
    bars.loc[5, "volume"] = np.nan  # no volume is fine
    result = run(bars)
    assert rejected_rules(result) == {
        "2024-01-01T01:00:00+00:00": ["not_null"],
        "2024-01-01T04:00:00+00:00": ["not_null", "finite"],
    }
    raws = result.rejected["raw"].tolist()
    assert raws[0]["open"] is None and raws[1]["high"] == "inf"
    json.dumps(raws, allow_nan=False)
    assert np.isnan(result.valid["volume"].iloc[-1])


@pytest.mark.parametrize("volume", [np.inf, -np.inf])
def test_an_infinite_volume_is_rejected_as_finite(volume):
    bars = clean_bars()
    bars.loc[2, "volume"] = volume  # passed volume_non_negative before: inf >= 0
    result = run(bars)
    assert rejected_rules(result) == {"2024-01-01T02:00:00+00:00": ["finite"]}
    assert result.rejected["raw"][0]["volume"] == str(volume)
    assert np.isfinite(result.valid["volume"]).all()


def test_bars_before_the_instruments_plausible_time_are_rejected():
    # seconds read as milliseconds: 1,704,067,200 s (2024-01-01) became 1970-01-20
    early = clean_bars(start="1970-01-20")
    assert rejected_rules(run(early)) == {
        ts.isoformat(): ["plausible_ts"] for ts in early["ts"]
    }  # no crypto pair traded before 2009, nor any equity recorded by the hour in 1970
    hourly = rejected_rules(run(early, instrument=IBM))  # off its session grid too
    assert len(hourly) == 6 and all("plausible_ts" in rules for rules in hourly.values())
    daily = clean_bars(start="1970-01-05", freq="1D")
    kept = run(daily, instrument=Instrument("NYSE:IBM"), timeframe="1d")
    assert kept.rejected.empty and len(kept.valid) == 6  # IBM's daily bars of 1970 are real


def test_null_ts_is_rejected_as_not_null():
    bars = clean_bars()
    bars["ts"] = bars["ts"].astype("datetime64[us, UTC]")
    bars.loc[2, "ts"] = pd.NaT
    result = run(bars, start="2024-01-01", end="2024-01-02")
    assert result.rejected["rules"].tolist() == [["not_null"]]
    assert result.rejected["raw"][0]["ts"] is None


def test_valid_keeps_bar_columns_and_dtypes():
    bars = clean_bars()
    result = run(bars)
    assert list(result.valid.columns) == list(BAR_COLUMNS)
    assert result.valid.dtypes.to_dict() == bars.dtypes.to_dict()
    pd.testing.assert_frame_equal(result.valid, bars)


def test_empty_frame_validates_to_nothing():
    from candleflow.providers.base import empty_bars

    result = run(empty_bars(), start="2024-01-01", end="2024-01-02")
    assert result.valid.empty and result.rejected.empty and result.flagged.empty
    assert result.rejected_share == 0.0
    assert result.summary["rows_checked"] == 0
    assert result.gx_result["success"] is True


def test_missing_column_raises_naming_it():
    with pytest.raises(BadInputError, match="volume"):
        run(clean_bars().drop(columns="volume"))


def test_gx_result_says_which_expectations_failed():
    bars = clean_bars()
    bars.loc[1, "low"] = 0.0
    result = run(bars)
    assert result.summary["gx_success"] is False
    failed = [e for e in result.gx_result["expectations"] if not e["success"]]
    assert [(e["expectation_type"], e["kwargs"]["column"]) for e in failed] == [
        ("expect_column_values_to_be_between", "low")
    ]
    assert result.summary["expectations"]["low_positive"]["unexpected_count"] == 1
    assert result.summary["suite"] == "candleflow_bars"
    # every reject rule is verified by GX: one expectation per check, each naming its rule
    checked_rules = {info["rule"] for info in result.summary["expectations"].values()}
    assert set(REJECT_RULES) <= checked_rules
    json.dumps(result.summary, allow_nan=False)
    json.dumps(result.gx_result, allow_nan=False)


def test_gx_shows_no_progress_bars(capfd):
    run(clean_bars())
    captured = capfd.readouterr()
    assert "Calculating Metrics" not in captured.err + captured.out


def test_importing_validation_does_not_import_great_expectations():
    code = (
        "import sys, candleflow.validation, candleflow.validation.rules, "
        "candleflow.validation.window, candleflow.validation.grid;"
        "print('great_expectations' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_task_logs_stay_free_of_gx_chatter():
    """As in an Airflow task: root logging at INFO, a fresh process, GX imported on use."""
    code = (
        "import logging; logging.basicConfig(level=logging.INFO);"
        "import pandas as pd;"
        "from candleflow.domain import Instrument;"
        "from candleflow.validation import validate_bars;"
        "ts = pd.date_range('2024-01-01', periods=3, freq='1h', tz='UTC').as_unit('us');"
        "bars = pd.DataFrame({'ts': ts, 'open': 1.0, 'high': 2.0, 'low': 0.5, 'close': 1.5,"
        " 'volume': 1.0});"
        "validate_bars(bars, instrument=Instrument('BINANCE:BTCUSDT'), timeframe='1h',"
        " start='2024-01-01', end='2024-01-02', now='2024-02-01')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    logged = out.stdout + out.stderr
    assert "Calculating Metrics" not in logged
    assert "great_expectations" not in logged
    assert "validated BINANCE:BTCUSDT 1h" in logged  # our own line still gets through


def test_real_spy_daily_history_rejects_exactly_two_rows():
    path = shared_data("mplfinance/yahoofinance-SPY-20080101-20180101.csv")
    raw = pd.read_csv(path)
    bars = pd.DataFrame(
        {
            "ts": pd.to_datetime(raw["Date"], utc=True).dt.as_unit("us"),
            "open": raw["Open"],
            "high": raw["High"],
            "low": raw["Low"],
            "close": raw["Close"],
            "volume": raw["Volume"].astype("float64"),
        }
    )
    result = run(
        bars, SPY, "1d", start=bars["ts"].min(), end=bars["ts"].max() + pd.Timedelta(days=1)
    )
    assert rejected_rules(result) == {
        "2015-03-05T00:00:00+00:00": ["low_le_min_open_close"],
        "2015-03-30T00:00:00+00:00": ["low_le_min_open_close"],
    }
    assert len(result.valid) == len(bars) - 2


def test_write_rejected_bars_keeps_rules_and_raw(db):
    bars = clean_bars()
    bars.loc[1, "low"] = 0.0
    bars.loc[2, "high"] = np.nan
    result = run(bars)
    window = (dt.datetime(2024, 1, 1, tzinfo=dt.UTC), dt.datetime(2024, 1, 2, tzinfo=dt.UTC))
    key = {"symbol": BTC.symbol, "timeframe": "1h", "provider": "ccxt", "window": window}
    written = write_rejected_bars(db, result.rejected, instrument_id=None, run_id="run-1", **key)
    assert written == 2
    with db.cursor() as cur:
        cur.execute(
            "SELECT symbol, timeframe, ts, rules, raw, run_id FROM candleflow.rejected_bars"
            " ORDER BY ts"
        )
        rows = cur.fetchall()
    assert [(r[0], r[1], r[3], r[5]) for r in rows] == [
        ("BINANCE:BTCUSDT", "1h", ["low_positive"], "run-1"),
        ("BINANCE:BTCUSDT", "1h", ["not_null"], "run-1"),
    ]
    assert rows[0][2] == dt.datetime(2024, 1, 1, 1, tzinfo=dt.UTC)
    assert rows[1][4] == {
        "ts": "2024-01-01T02:00:00+00:00",
        "open": 100.0,
        "high": None,
        "low": 98.0,
        "close": 101.0,
        "volume": 10.0,
    }
    assert (
        write_rejected_bars(db, result.rejected.iloc[:0], instrument_id=None, run_id="r2", **key)
        == 0
    )


@pytest.mark.parametrize(
    ("column", "also"),
    [
        ("open", ["high_ge_low"]),
        ("high", []),
        ("low", ["high_ge_max_open_close"]),
        ("close", ["high_ge_low"]),
    ],
)
def test_a_rule_is_judged_only_when_its_prices_are_all_there(column, also):
    """open 100, high 90, low 95, close 101 breaks all three price rules; with one price
    missing only the rules that do not need it can still break (GX and masks agree)."""
    bars = clean_bars()
    bars.loc[2, ["open", "high", "low", "close"]] = [100.0, 90.0, 95.0, 101.0]
    bars.loc[2, column] = np.nan
    assert rejected_rules(run(bars)) == {"2024-01-01T02:00:00+00:00": ["not_null", *also]}


def test_window_bounds_are_exact_to_the_microsecond():
    bars = clean_bars(4)
    start, end = bars["ts"][1], bars["ts"][3]
    before = bars["ts"][1] - pd.Timedelta(microseconds=1)
    bars.loc[0, "ts"] = before  # off the hour as well
    result = run(bars, start=start, end=end, now=bars["ts"][2] + pd.Timedelta(hours=1))
    got = rejected_rules(result)
    assert got[before.isoformat()] == ["on_grid", "in_window"]
    assert got[bars["ts"][3].isoformat()] == ["in_window", "not_forming"]
    assert bars["ts"][1].isoformat() not in got and bars["ts"][2].isoformat() not in got


def _every_rule_broken() -> tuple[pd.DataFrame, dict]:
    """A window in which every check of the suite fails at least once."""
    bars = clean_bars(16)
    bars["ts"] = bars["ts"].astype("datetime64[us, UTC]")
    for row, values in {
        1: {"low": 0.0},  # low_positive
        2: {"volume": -1.0},  # volume_non_negative
        3: {"high": 99.0},  # high_ge_max_open_close
        4: {"low": 101.5},  # low_le_min_open_close
        5: {"high": 97.0},  # high_ge_low (and high_ge_max_open_close)
        6: {"open": np.nan},
        7: {"high": np.nan},
        8: {"low": np.nan},
        9: {"close": np.nan},
        10: {"ts": pd.NaT},
        13: {"open": 300.0, "high": 310.0, "low": 290.0, "close": 305.0},  # price_jump
    }.items():
        for col, value in values.items():
            bars.loc[row, col] = value
    bars.loc[15, "ts"] += pd.Timedelta(minutes=7)  # on_grid; past the end and forming too
    conflict = bars.iloc[[12]].assign(close=100.5)  # unique_ts
    infinite = bars.iloc[[11]].assign(ts=bars["ts"][11] + pd.Timedelta(minutes=30), volume=np.inf)
    ancient = bars.iloc[[11]].assign(ts=pd.Timestamp("1970-01-20", tz="UTC"))  # plausible_ts
    window = {"start": bars["ts"][1], "end": bars["ts"][15], "now": bars["ts"][15]}
    return pd.concat([bars, conflict, infinite, ancient], ignore_index=True), window


def test_the_warm_runner_and_gx_batch_validate_agree_on_every_check():
    from candleflow.validation import suite

    bars, window = _every_rule_broken()
    result = run(bars, **window)
    assert not result.summary["gx_success"]
    captured = {}
    real = suite.run_suite

    def capture(frame, **kw):
        captured.update(frame=frame, kw=kw)
        return real(frame, **kw)

    suite.run_suite = capture
    try:
        run(bars, **window)
    finally:
        suite.run_suite = real
    warm = suite.run_suite(captured["frame"], **captured["kw"], engine="warm")
    stock = suite.run_suite(captured["frame"], **captured["kw"], engine="stock")
    assert warm.checks == stock.checks
    assert warm.success == stock.success is False
    failing = {c for c, info in warm.checks.items() if not info["success"]}
    assert failing == set(suite.r.CHECKS)  # every check, in_window's two bounds included
    clean = real(captured["frame"].iloc[[11]], **captured["kw"])  # same runner, next frame
    assert clean.success and all(i["unexpected_count"] == 0 for i in clean.checks.values())


def test_the_warm_runner_keeps_nothing_of_a_frame_after_its_run():
    from candleflow.validation import runner

    run(clean_bars(50))
    engine = runner.runner(0.5, False).engine
    assert len(getattr(engine, "_metric_cache", {})) == 0
    assert engine.batch_manager.active_batch_data.dataframe.empty


def test_timing_says_whether_gx_was_warm_and_counts_calls_in_the_process():
    first, second = run(clean_bars()), run(clean_bars())
    assert second.summary["timing"]["gx_warm"] is True
    assert (
        second.summary["timing"]["nth_in_process"] == first.summary["timing"]["nth_in_process"] + 1
    )
    assert 0 < second.summary["timing"]["seconds"] < 60
