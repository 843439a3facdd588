"""Framing of the TradingView protocol: property tests and the real 2023/2025 captures.

The expected capture values below were read from the capture files by hand (grep, and
reading the frames), not produced by the decoder.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from candleflow.errors import ProtocolError
from candleflow.providers.tradingview.decode import iter_bars, read_capture, write_bars_csv
from candleflow.providers.tradingview.protocol import (
    EnvelopeReader,
    decode,
    frame,
    message,
    parse_payload,
    split_frame,
    utf16_len,
)
from tests.support.shared_data import shared_data

# Every code point except surrogates, so astral characters (emoji) are common enough.
chars = st.characters(exclude_categories=("Cs",))
payloads = st.lists(st.text(alphabet=chars, max_size=60), max_size=8)


@given(payloads)
def test_framed_payloads_split_back_to_themselves(items: list[str]) -> None:
    data = "".join(frame(p) for p in items)
    assert split_frame(data) == items


@given(payloads, st.lists(st.integers(min_value=0, max_value=10_000), max_size=10))
def test_a_stream_cut_anywhere_yields_the_same_payloads(items: list[str], cuts: list[int]) -> None:
    data = "".join(frame(p) for p in items)
    points = sorted({c % (len(data) + 1) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    reader = EnvelopeReader()
    out = [p for chunk in chunks for p in reader.feed(chunk)]
    assert out == items
    assert reader.pending == ""


@given(st.dictionaries(st.text(alphabet=chars, max_size=10), st.text(alphabet=chars, max_size=20)))
def test_json_messages_round_trip_with_either_ascii_mode(params: dict[str, str]) -> None:
    for ensure_ascii in (True, False):
        framed = message("qsd", "qs_x", params, ensure_ascii=ensure_ascii)
        assert decode(framed) == [{"m": "qsd", "p": ["qs_x", params]}]


@given(st.text(alphabet=chars, max_size=200))
def test_garbage_raises_protocol_error_and_nothing_else(text: str) -> None:
    try:
        decode(text)
    except ProtocolError:
        pass


@given(st.text(alphabet=chars, min_size=1, max_size=50).filter(lambda t: not t.startswith("~")))
def test_text_that_is_not_an_envelope_is_rejected(text: str) -> None:
    with pytest.raises(ProtocolError):
        split_frame(text)


@pytest.mark.parametrize(
    "bad",
    ["~m~12x~m~{not framing}", "~m~~m~{}", "~m~" + "9" * 5000 + "~m~x", "~m~5", "hello"],
)
def test_bad_headers_raise_protocol_error(bad: str) -> None:
    with pytest.raises(ProtocolError):
        split_frame(bad)


def test_non_json_payload_raises_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        parse_payload("{oops")
    with pytest.raises(ProtocolError):
        parse_payload("[1, 2]")


def test_utf16_length_counts_astral_characters_twice() -> None:
    # The doc's reconstructed example: 112 characters, 113 UTF-16 units, 119 UTF-8 bytes.
    payload = (
        '{"m":"qsd","p":["qs_abcdefghijkl",{"n":"EURONEXT:AIR","s":"ok",'
        '"v":{"local_description":"Société Générale 😀"}}]}'
    )
    assert (len(payload), utf16_len(payload), len(payload.encode())) == (112, 113, 119)
    assert frame(payload).startswith("~m~113~m~")
    assert split_frame(frame(payload) + frame("~h~1")) == [payload, "~h~1"]


def test_legacy_json_marker_is_tolerated() -> None:
    assert decode('~m~11~m~~j~{"a":1}') == [{"a": 1}]


def test_four_envelopes_in_one_frame_verbatim_2025() -> None:
    frame_text = (
        '~m~87~m~{"m":"critical_error","p":["qs_vtnztfvikwom","invalid_parameters",'
        '"quote_add_symbols"]}~m~92~m~{"m":"series_loading","p":["cs_vtnztfvikwom","s1","s1"],'
        '"t":1742933764,"t_ms":1742933764250}'
    )
    assert [m["m"] for m in decode(frame_text)] == ["critical_error", "series_loading"]


@pytest.fixture(scope="module")
def capture() -> list:
    return read_capture(shared_data("tradingview/socket_messages.txt"))


def test_capture_decodes_into_42_messages(capture: list) -> None:
    counts: dict[str, int] = {}
    for msg in capture:
        counts[msg["m"]] = counts.get(msg["m"], 0) + 1
    assert len(capture) == 42
    assert counts == {
        "du": 5, "qsd": 5, "quote_completed": 5, "series_completed": 6, "series_timeframe": 8,
        "study_completed": 5, "symbol_resolved": 2, "timescale_update": 6,
    }  # fmt: skip


def test_capture_raw_lengths_match_the_declared_prefixes() -> None:
    raw = shared_data("tradingview/socket_messages.txt").read_text(encoding="utf-8")
    assert raw.startswith("~m~284774~m~")
    assert len(split_frame(raw)[0]) == 284774
    last = (
        '{"m":"study_completed","p":["cs_qgmDV4kRhh9c","st6","s1_st1"],'
        '"t":1686475613,"t_ms":1686475613156}'
    )
    assert raw.endswith("~m~98~m~" + last)
    assert split_frame(raw)[-1] == last


def test_capture_spx_daily_series_matches_the_verbatim_excerpt(capture: list) -> None:
    spx = next(m for m in capture if m["m"] == "timescale_update" and "sds_7" in m["p"][1])
    bars = spx["p"][1]["sds_7"]["s"]
    assert len(bars) == 368
    assert bars[0] == {
        "i": 0,
        "v": [1640183400.0, 4650.36, 4697.67, 4645.53, 4696.57, 1798000000.0],
    }
    assert bars[-1] == {
        "i": 367, "v": [1686317400.0, 4304.88, 4322.62, 4291.7, 4298.87, 2109000000.0]
    }  # fmt: skip
    assert spx["p"][1]["sds_7"]["node"] == "sin1-25-series-charts-free-2-runner-2"
    assert {
        "m": "series_timeframe",
        "p": ["cs_HkkyfdFBmlYf", "sds_7", "s1", 116, 367, "12M", True],
    } in capture


def test_capture_quotes_keep_the_no_value_sentinel_and_daily_volume(capture: list) -> None:
    qsd = {m["p"][1]["n"]: m["p"][1]["v"] for m in capture if m["m"] == "qsd"}
    assert qsd["NASDAQ:NDX"]["volume"] == 1e100
    assert qsd["SP:SPX"]["volume"] == 2109000000
    assert qsd["BITSTAMP:BTCUSD"]["lp"] == 25753.0
    assert {"m": "quote_completed", "p": ["qs_PL4Mnuk8pRGP", "SP:SPX"]} in capture


def test_capture_bars_csv_has_every_bar_and_blank_volume_for_5_element_bars(
    capture: list, tmp_path
) -> None:
    rows = list(iter_bars(capture))
    assert len(rows) == 4 * 2637 + 3507 + 368  # sds_2/3/5/6 one-minute, sds_4, sds_7 daily
    assert rows[0] == (
        "sds_5",
        "2023-06-01T15:38:00Z",
        33019.3,
        33025.31,
        33018.84,
        33021.84,
        638315.0,
    )
    assert next(r for r in rows if r[0] == "sds_2")[-1] is None
    out = tmp_path / "bars.csv"
    with out.open("w") as fh:
        assert write_bars_csv(capture, fh) == len(rows)
    assert out.read_text().splitlines()[0] == "series_id,ts,open,high,low,close,volume"


def test_parsed_events_json_is_read_and_keeps_non_ascii() -> None:
    events = read_capture(shared_data("tradingview/events.json"))
    assert len(events) == 21
    assert events[0]["p"] == ["cs_tKeYG4jmczi0", "sds_1", "s2"]
    text = json.dumps(events, ensure_ascii=False)
    assert "NGÃ" in text
    first = next(iter_bars(events))
    assert first == ("sds_1", "2025-03-27T07:00:00Z", 65700.0, 65800.0, 65500.0, 65500.0, 181500.0)


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=1, max_value=5000))
def test_capture_split_anywhere_by_the_reader_gives_the_same_messages(cut: int) -> None:
    raw = shared_data("tradingview/socket_messages.txt").read_text(encoding="utf-8")
    reader = EnvelopeReader()
    payloads = []
    for start in range(0, len(raw), cut * 97):
        payloads += reader.feed(raw[start : start + cut * 97])
    assert payloads == split_frame(raw)
    assert len(payloads) == 42
