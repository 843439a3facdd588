"""One vocabulary: the timestamp parser, the column specs and the choice lists live in
``candleflow.domain`` and every other module takes them from there."""

from __future__ import annotations

import datetime as dt
import sys
from typing import get_args

import pandas as pd
import pytest

from candleflow import domain
from candleflow.domain import UTC, to_utc

NY = dt.timezone(dt.timedelta(hours=-5))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-02", dt.datetime(2024, 1, 2, tzinfo=UTC)),
        ("2024-01-02T14:30Z", dt.datetime(2024, 1, 2, 14, 30, tzinfo=UTC)),
        (" 2024-01-02 09:30-05:00 ", dt.datetime(2024, 1, 2, 14, 30, tzinfo=UTC)),
        ("2024-01-02T14:30:00.123456+00:00", dt.datetime(2024, 1, 2, 14, 30, 0, 123456, UTC)),
        (dt.date(2024, 1, 2), dt.datetime(2024, 1, 2, tzinfo=UTC)),
        (dt.datetime(2024, 1, 2, 9, 30), dt.datetime(2024, 1, 2, 9, 30, tzinfo=UTC)),
        (dt.datetime(2024, 1, 2, 9, 30, tzinfo=NY), dt.datetime(2024, 1, 2, 14, 30, tzinfo=UTC)),
        (
            pd.Timestamp("2024-07-01 08:00", tz="Europe/London"),
            dt.datetime(2024, 7, 1, 7, tzinfo=UTC),
        ),
    ],
)
def test_to_utc_reads_every_accepted_form_as_aware_utc(value, expected):
    got = to_utc(value)
    assert got == expected
    assert type(got) is dt.datetime and got.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        ("01/02/2024", ValueError, r"bad start '01/02/2024'; expected ISO-8601"),
        ("", ValueError, r"bad start ''; expected ISO-8601"),
        (pd.NaT, ValueError, "bad start: NaT"),
        (1_700_000_000, TypeError, "start must be a datetime, date or ISO-8601 string, got int"),
        (None, TypeError, "got NoneType"),
    ],
)
def test_to_utc_names_the_input_and_the_expected_form(value, error, message):
    with pytest.raises(error, match=message):
        to_utc(value, name="start")


def test_the_old_import_paths_of_to_utc_are_the_one_parser():
    from candleflow.providers import base

    assert base.to_utc is domain.to_utc


@pytest.mark.parametrize(
    "value",
    [
        dt.datetime(1970, 1, 1, tzinfo=UTC),
        dt.datetime(2024, 3, 5, 14, 30, 0, 1, tzinfo=UTC),  # one microsecond past a bar start
        dt.datetime(2262, 4, 11, 23, 47, 16, 854775, tzinfo=UTC),  # where floats lose digits
        dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        dt.datetime(2024, 3, 5, 9, 30, 0, 7, tzinfo=NY),
    ],
)
def test_to_micros_is_the_exact_epoch_microsecond(value):
    expected = pd.Timestamp(value).value // 1000  # pandas' own integer nanoseconds, no float
    assert domain.to_micros(value) == expected


def test_each_literal_lists_exactly_its_enums_values():
    pairs = [
        (domain.Fill, domain.FillMode, domain.FILLS),
        (domain.Format, domain.BarFormat, domain.BAR_FORMATS),
        (domain.Output, domain.QueryOutput, domain.OUTPUTS),
        (domain.Source, domain.BarSource, domain.SOURCES),
    ]
    for literal, enum, values in pairs:
        assert get_args(literal) == tuple(m.value for m in enum) == values
        assert all(type(v) is str for v in values)


def test_choice_lists_and_threshold_have_one_home():
    from candleflow import output, query, watchlist
    from candleflow.api import params
    from candleflow.cli import bars as cli_bars
    from candleflow.db import bars as bar_writer
    from candleflow.services import load

    assert params.FILLS is cli_bars.FILLS is domain.FILLS
    assert output.FORMATS is cli_bars.FORMATS is domain.BAR_FORMATS
    assert bar_writer.SOURCES is domain.SOURCES
    assert query.Fill is domain.Fill and query.Output is domain.Output
    assert load.DEFAULT_REJECT_THRESHOLD == domain.DEFAULT_REJECT_THRESHOLD == 0.05
    assert watchlist.Watchlist("x", (), ()).reject_threshold == domain.DEFAULT_REJECT_THRESHOLD


def test_staging_types_and_arrow_schemas_derive_from_the_column_specs():
    import pyarrow as pa

    from candleflow.db import bars as bar_writer
    from candleflow.db import bulk

    assert domain.pg_types(domain.TICKS) == bulk.TICK_COLUMNS
    assert list(bulk.TICK_COLUMNS) == ["ts", "seq", *domain.TICK_COLUMNS[1:]]
    assert {k: v for k, v in bar_writer.BAR_STAGE_COLUMNS.items() if k != "filled"} == (
        domain.pg_types(domain.BARS)
    )
    query_schema = sys.modules["candleflow.query.bars"].SCHEMA
    spec = domain.arrow_schema(domain.BARS)
    for name in domain.BAR_COLUMNS:
        assert query_schema.field(name).type == spec.field(name).type
    assert spec.field("ts").type == pa.timestamp("us", tz="UTC")
    assert not spec.field("close").nullable and spec.field("volume").nullable


@pytest.mark.parametrize(
    ("symbol", "why"),
    [
        ("NASDAQ:AA PL", "whitespace is not allowed"),
        ("NASDAQ:AAPL\t", "whitespace is not allowed"),
        ("NASDAQ:\u00a0AAPL", "whitespace is not allowed"),
        ("NASDAQ:AAPL:X", "more than one ':'"),
        ("BINANCE:XRP/ETH", "'/' is not allowed (the exchange's own ticker, e.g. BINANCE:XRPETH?)"),
        ("NASDAQ:A\x01", "control characters are not allowed"),
        ("NASDAQ:" + "A" * 58, "65 characters, at most 64 allowed"),
        ("AAPL", "bad symbol 'AAPL'; expected EXCHANGE:TICKER"),
        (":AAPL", "expected EXCHANGE:TICKER"),
        (None, "a NoneType; expected text EXCHANGE:TICKER"),
    ],
)
def test_a_symbol_the_instruments_table_would_refuse_is_refused_saying_why(symbol, why):
    from candleflow.errors import BadInputError

    with pytest.raises(BadInputError) as raised:
        domain.check_symbol(symbol)
    assert why in str(raised.value) and isinstance(raised.value, ValueError)
    with pytest.raises(BadInputError):
        domain.split_symbol(symbol)


def test_the_symbol_rule_accepts_what_exchanges_list_and_matches_the_table_check():
    import re

    for symbol in (
        "NASDAQ:AAPL",
        "NYSE:BRK.B",
        "CME_MINI:ES1!",
        "BINANCE:BTCUSDT.P",
        "A:" + "B" * 62,
    ):
        assert domain.check_symbol(symbol) == symbol
        assert re.match(domain.SYMBOL_PATTERN, symbol)  # the DAG params' JSON-schema pattern
    for symbol in ("NASDAQ:AA PL", "A:B:C", "X:Y/Z", "AAPL"):
        assert not re.match(domain.SYMBOL_PATTERN, symbol)
