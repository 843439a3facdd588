"""Corporate actions without a database: the factor arithmetic, the actions derived from a raw
and an adjusted series, the vendor files, and the replay server's adjusted series.

Expected values come from the files' own numbers (LEAN's factor file, zipline's columns) or
are written out by hand; the derivation is checked on series built from LEAN's real prices
and actions, rounded to cents as a provider may round them.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from candleflow.adjustments import action_frame, check_adjustment, cumulative, snap_ratio
from candleflow.providers.files import read_bars
from candleflow.providers.files.actions import detect_actions_preset, read_actions
from candleflow.providers.steps import derive_actions, steps
from candleflow.providers.tradingview.chart import symbol_key
from tests.support.shared_data import shared_data

D = dt.date


@pytest.mark.parametrize(
    ("measured", "snapped"),
    [(2.0000056, 2.0), (6.99999, 7.0), (1.49999, 1.5), (0.100001, 0.1), (4.0, 4.0), (1.37, 1.37)],
)
def test_a_split_ratio_snaps_to_its_simple_fraction(measured, snapped):
    assert snap_ratio(measured) == snapped


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"ex_date": "2020-01-02", "kind": "split", "ratio": 0}, "ratio 0"),
        ({"ex_date": "2020-01-02", "kind": "merger", "ratio": 2}, "kind 'merger'"),
        (
            {"ex_date": "2020-01-02", "kind": "dividend", "amount": 5, "reference_price": 4},
            "amount",
        ),
        ({"ex_date": "2020-01-02", "kind": "dividend", "factor": 1.2}, "below 1"),
    ],
)
def test_an_impossible_action_is_refused_naming_it(row, message):
    with pytest.raises(ValueError, match=message):
        action_frame([row])


def test_two_actions_of_a_kind_on_one_day_are_refused_and_factors_are_filled_in():
    rows = [{"ex_date": "2020-01-02", "kind": "split", "ratio": 4}] * 2
    with pytest.raises(ValueError, match="two split actions on 2020-01-02"):
        action_frame(rows)
    frame = action_frame(
        [
            {"ex_date": D(2020, 3, 1), "kind": "dividend", "amount": 1, "reference_price": 50},
            {"ex_date": "2020-01-02", "kind": "split", "ratio": 4},
        ]
    )
    assert list(frame["ex_date"]) == [D(2020, 1, 2), D(2020, 3, 1)]  # sorted
    assert list(frame["factor"]) == [0.25, 0.98]
    with pytest.raises(ValueError, match="expected one of raw, splits, total_return"):
        check_adjustment("dividends")


def test_factors_multiply_back_from_the_newest_action():
    dates = [D(2020, 1, 10), D(2020, 2, 10), D(2020, 2, 10), D(2020, 3, 10)]
    kinds = ["dividend", "dividend", "split", "dividend"]
    factors = [0.99, 0.98, 0.5, 0.97]
    days, price, volume = cumulative(dates, kinds, factors, "total_return")
    assert [str(d) for d in days] == ["2020-01-10", "2020-02-10", "2020-03-10"]
    np.testing.assert_allclose(price, [0.99 * 0.98 * 0.5 * 0.97, 0.98 * 0.5 * 0.97, 0.97, 1])
    np.testing.assert_allclose(volume, [0.5, 0.5, 1, 1])
    _, split, _ = cumulative(dates, kinds, factors, "splits")
    np.testing.assert_allclose(split, [0.5, 0.5, 1, 1])
    _, raw, raw_volume = cumulative(dates, kinds, factors, "raw")
    assert list(raw) == list(raw_volume) == [1, 1, 1, 1]


def _lean() -> tuple[list[dt.date], np.ndarray, pd.DataFrame]:
    bars = read_bars(shared_data("lean/daily/aapl.zip"), "lean_daily", "1d")
    actions = read_actions(shared_data("lean/factor_files/aapl.csv"), "NASDAQ:AAPL")
    days = list(bars["ts"].dt.tz_convert(None).dt.date)
    return days, bars["close"].to_numpy(), actions


def _adjusted(days, raw, actions, mode, decimals=None):
    dates, price, _ = cumulative(actions["ex_date"], actions["kind"], actions["factor"], mode)
    index = np.searchsorted(dates, np.array(days, dtype="datetime64[D]"), side="right")
    out = raw * price[index]
    return out if decimals is None else np.round(out, decimals)


@pytest.mark.parametrize("decimals", [None, 4, 2])
def test_derived_actions_are_leans_even_from_prices_rounded_to_cents(decimals):
    days, raw, actions = _lean()
    splits = _adjusted(days, raw, actions, "splits", decimals)
    total = _adjusted(days, raw, actions, "total_return", decimals)
    got = derive_actions(days, raw, splits, total)
    both = got.merge(actions, on=["ex_date", "kind"], how="outer", indicator=True)
    assert (both["_merge"] == "both").all() and len(both) == 39  # 35 dividends, 4 splits
    tolerance = {None: 1e-12, 4: 1e-5, 2: 5e-4}[decimals]  # cents on a 1998 price of 0.12
    np.testing.assert_allclose(both["factor_x"], both["factor_y"], rtol=tolerance)
    assert list(got.loc[got["kind"] == "split", "ratio"]) == [2.0, 2.0, 7.0, 4.0]


def test_no_step_is_no_action_and_a_split_with_a_dividend_on_one_day_is_both():
    raw = np.array([100.0, 101, 102, 26, 26.5, 27])
    assert steps(raw, raw.copy()) == []
    days = [D(2021, 1, d) for d in range(4, 10)]
    splits = raw * np.array([0.25, 0.25, 0.25, 1, 1, 1])
    total = splits * np.array([0.99, 0.99, 0.99, 1, 1, 1])
    got = derive_actions(days, raw, splits, total)
    assert list(zip(got["ex_date"], got["kind"], strict=True)) == [
        (D(2021, 1, 7), "dividend"),
        (D(2021, 1, 7), "split"),
    ]
    assert got["ratio"].iloc[1] == 4.0
    assert got["amount"].iloc[0] == pytest.approx(0.01 * 102)  # the raw close before


def test_action_files_are_detected_and_read_in_raw_prices():
    lean = shared_data("lean/factor_files/aapl.csv")
    zipline = shared_data("zipline/csvdir_daily/AAPL.csv.gz")
    quandl = shared_data("zipline/QUANDL_ARCHIVE.zip")
    assert [detect_actions_preset(p) for p in (lean, zipline, quandl)] == [
        "lean_factor",
        "zipline",
        "quandl",
    ]
    actions = read_actions(lean, "NASDAQ:AAPL")
    split = actions[actions["kind"] == "split"]
    assert [str(d) for d in split["ex_date"]] == [  # the next XNYS session after each row
        "2000-06-21", "2005-02-28", "2014-06-09", "2020-08-31"
    ]  # fmt: skip
    august = actions[actions["ex_date"] == D(2020, 8, 7)].iloc[0]
    assert august["amount"] == pytest.approx(0.82, abs=1e-4)  # 455.61 x (1 - 0.99499/0.99679)
    assert august["reference_price"] == 455.61
    # zipline's 2012 dividend is split-adjusted in the file (0.37857); stored raw: x 7
    first = read_actions(zipline, "NASDAQ:AAPL").iloc[0]
    assert (first["ex_date"], first["amount"]) == (D(2012, 8, 9), pytest.approx(2.65, abs=1e-3))
    with pytest.raises(Exception, match="no rows of ticker 'NOPE'"):
        read_actions(quandl, "NASDAQ:NOPE")


def test_the_descriptor_names_the_adjustment_and_bars_are_fetched_raw():
    assert symbol_key("NASDAQ:AAPL") == (
        '={"adjustment":"none","session":"regular","symbol":"NASDAQ:AAPL"}'
    )
    assert '"adjustment":"dividends"' in symbol_key("NASDAQ:AAPL", "dividends")
    with pytest.raises(ValueError, match="expected one of none, splits, dividends"):
        symbol_key("NASDAQ:AAPL", "total_return")


def test_a_check_is_due_once_per_session_and_only_for_what_is_not_known():
    from candleflow.services.action_checks import RECHECK_NONE, Due, _due

    utc = dt.UTC
    now = dt.datetime(2024, 3, 6, 18, tzinfo=utc)
    opened = dt.datetime(2024, 3, 6, 14, 30, tzinfo=utc)
    latest, first = D(2024, 3, 6), D(2024, 3, 1)
    before_open = dt.datetime(2024, 3, 6, 9, tzinfo=utc)

    def due(row):
        return _due(row, "tradingview", first, latest, opened, now)

    assert due(None) == Due(first, latest)  # never asked
    assert due(("files", True, first, latest, before_open, 1.0)) == Due(first, latest)
    # known through yesterday, checked before today's open: today's session, cheaply
    known = ("tradingview", True, D(2024, 2, 1), D(2024, 3, 5), before_open, 101.5)
    assert due(known) == Due(D(2024, 3, 5), latest, (D(2024, 3, 5), 101.5))
    # checked since the session opened: nothing until the next session
    assert due((*known[:4], opened, 101.5)) is None
    # a backfill before the known span: the older sessions (and the new one if due)
    assert due(("tradingview", True, D(2024, 3, 4), D(2024, 3, 5), opened, 1.0)) == Due(
        first, D(2024, 3, 4)
    )
    none = ("tradingview", False, None, None, now - RECHECK_NONE / 2, None)
    assert due(none) is None
    stale = ("tradingview", False, None, None, now - 2 * RECHECK_NONE, None)
    assert due(stale) == Due(first, latest, recheck_none=True)
