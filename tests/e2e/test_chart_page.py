"""The chart page in a real headless Chromium: it must draw exactly the stored bars.

The app runs under uvicorn on a free loopback port against a database with known bars;
Debian's ``chromium`` (``apt-get install chromium``) is driven by Playwright. The page is
authenticated the way the Airflow UI authenticates it: the ``_token`` cookie on the same
origin (and, for use outside the UI, a ``#token=`` fragment). Screenshots go to
``tests/artifacts/chart*.png`` for a person to look at. Without Chromium the test skips,
except under CI (``CI=true``), where a missing browser is a broken setup and fails.

What a person reads is checked as drawn: tick labels (no sub-second labels on a one-bar
axis, none cut off at the edge), the status line, the symbol box's list of the warehouse's
instruments, an error never shown above a chart of another request, and markup in a
description shown as text.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections.abc import Iterator

import pytest

from candleflow.stack.env import free_port
from tests.support.api import Series, insert_bars, insert_instrument, load_series
from tests.support.browser import ARGS, ARTIFACTS

UTC = dt.UTC
MINUTE, HOUR, DAY = dt.timedelta(minutes=1), dt.timedelta(hours=1), dt.timedelta(days=1)
BTC = Series("BINANCE:BTCUSDT", "1h", dt.datetime(2024, 1, 1, tzinfo=UTC), 300, HOUR)
AAPL = Series(
    "NASDAQ:AAPL", "1d", dt.datetime(2023, 6, 1, 13, 30, tzinfo=UTC), 130, DAY, weekdays=True
)
# Six of the seven 1h bars of one XNYS session (09:30-14:30 New York): short data.
IBM = Series("NYSE:IBM", "1h", dt.datetime(2024, 7, 2, 13, 30, tzinfo=UTC), 6, HOUR)
# A full XNYS session of 1m bars, and one day of a 24x7 pair's 1m bars.
MSFT = Series("NASDAQ:MSFT", "1m", dt.datetime(2024, 7, 2, 13, 30, tzinfo=UTC), 390, MINUTE)
ETH = Series("BINANCE:ETHUSDT", "1m", dt.datetime(2024, 7, 2, tzinfo=UTC), 1440, MINUTE)
XSS = Series("NYSE:XSS", "1d", dt.datetime(2024, 7, 1, 13, 30, tzinfo=UTC), 3, DAY)
# Ten days of 1h history, then one day of 1m: a 1d chart shows all eleven days.
SOL_HOURS = Series("BINANCE:SOLUSDT", "1h", dt.datetime(2024, 6, 1, tzinfo=UTC), 240, HOUR)
SOL_MINUTES = Series("BINANCE:SOLUSDT", "1m", dt.datetime(2024, 6, 11, tzinfo=UTC), 1440, MINUTE)
MARKUP = "<img src=x onerror=alert(1)>"
INSTRUMENTS = 7  # BTC, AAPL, IBM, MSFT, ETH, XSS, SOL
PAGE = "/chart?symbol={symbol}&timeframe={tf}&start=2023-01-01&end=2024-12-31"


@pytest.fixture
def server(db, airflow_auth) -> Iterator[str]:
    """The app under uvicorn in a thread, on the test's database with two known series."""
    import uvicorn

    from candleflow.api.app import create_app

    load_series(db, BTC, description="Bitcoin / TetherUS")
    load_series(
        db,
        AAPL,
        description="Apple Inc.",
        type_="stock",
        timezone="America/New_York",
        session="0930-1600",
    )
    load_series(db, IBM, type_="stock", timezone="America/New_York", session="0930-1600")
    load_series(
        db,
        MSFT,
        description="Microsoft Corporation",
        type_="stock",
        timezone="America/New_York",
        session="0930-1600",
    )
    load_series(db, ETH, description="Ethereum / TetherUS")
    load_series(db, XSS, description=MARKUP, type_="stock", timezone="America/New_York")
    sol = insert_instrument(db, SOL_HOURS.symbol, description="Solana / TetherUS")
    insert_bars(db, SOL_HOURS, sol)
    insert_bars(db, SOL_MINUTES, sol)
    port = free_port()
    config = uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    uv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=ARGS)
        yield browser
        browser.close()


def _drawn(page) -> dict:
    page.wait_for_function(
        "document.getElementById('chart').dataset.state === 'ready'"
        " || document.getElementById('chart').dataset.state === 'error'",
        timeout=60_000,
    )
    state = page.evaluate("() => window.candleflowChart")
    assert state["state"] == "ready", state
    return state


def test_the_chart_draws_every_stored_bar(server, browser, airflow_auth):
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    context.add_cookies([{"name": "_token", "value": airflow_auth.valid(), "url": server}])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server + PAGE.format(symbol=BTC.symbol, tf="1h"))
    state = _drawn(page)
    assert state["barCount"] == BTC.count
    assert page.locator("#chart").get_attribute("data-bar-count") == str(BTC.count)
    # plotly draws one candle path per bar into the SVG layer of the price axis
    candles = page.locator("#chart g.trace.boxes path, #chart .candlestick path").count()
    assert candles >= BTC.count
    assert page.locator("#symbol").input_value() == BTC.symbol
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chart.png"))
    assert not errors, errors
    context.close()


def test_a_session_market_and_a_token_in_the_fragment(server, browser, airflow_auth):
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    url = server + PAGE.format(symbol=AAPL.symbol, tf="1d") + "#token=" + airflow_auth.valid()
    page.goto(url)
    assert _drawn(page)["barCount"] == AAPL.count
    assert "token" not in page.url  # moved to sessionStorage, out of the address bar
    page.screenshot(path=str(ARTIFACTS / "chart_session.png"))
    context.close()


def test_without_a_token_the_page_says_how_to_log_in(server, browser):
    page = browser.new_page()
    page.goto(server + PAGE.format(symbol=BTC.symbol, tf="1h"))
    page.wait_for_function("document.getElementById('chart').dataset.state === 'error'")
    assert "Not logged in" in page.locator("#status").inner_text()
    page.close()


def _trace_names(page) -> list[str]:
    return page.evaluate("() => document.getElementById('chart').data.map((t) => t.name)")


def test_short_data_opens_in_its_finest_stored_timeframe(server, browser, airflow_auth):
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    context.add_cookies([{"name": "_token", "value": airflow_auth.valid(), "url": server}])
    page = context.new_page()
    page.goto(server + f"/chart?symbol={IBM.symbol}")  # no timeframe, no range
    state = _drawn(page)
    assert state["timeframe"] == "1h" and page.locator("#timeframe").input_value() == "1h"
    assert state["barCount"] == IBM.count and state["incomplete"] == 0
    assert "incomplete" not in _trace_names(page)
    context.close()


def test_incomplete_bars_are_drawn_apart_and_counted(server, browser, airflow_auth):
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    context.add_cookies([{"name": "_token", "value": airflow_auth.valid(), "url": server}])
    page = context.new_page()
    page.goto(server + PAGE.format(symbol=IBM.symbol, tf="1d"))
    state = _drawn(page)
    assert state["barCount"] == 1 and state["incomplete"] == 1  # six of seven hours
    assert page.locator("#chart").get_attribute("data-incomplete") == "1"
    assert _trace_names(page) == [IBM.symbol, "incomplete", "volume"]
    assert page.locator("#status").inner_text() == "1 bar (1 incomplete, drawn grey)"
    page.screenshot(path=str(ARTIFACTS / "chart_incomplete.png"))
    context.close()


def test_a_daily_chart_over_hourly_history_and_a_day_of_minutes_shows_every_day(
    server,
    browser,
    airflow_auth,
):
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    context.add_cookies([{"name": "_token", "value": airflow_auth.valid(), "url": server}])
    page = context.new_page()
    page.goto(server + PAGE.format(symbol=SOL_HOURS.symbol, tf="1d"))
    state = _drawn(page)
    assert state["barCount"] == 11 and state["incomplete"] == 0  # not the 1m day alone
    context.close()


def _page(browser, server, airflow_auth, errors: list[str] | None = None):
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    context.add_cookies([{"name": "_token", "value": airflow_auth.valid(), "url": server}])
    page = context.new_page()
    if errors is not None:
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on(
            "dialog", lambda dialog: (errors.append("dialog: " + dialog.message), dialog.dismiss())
        )
    return context, page


def _x_labels(page) -> list[dict]:
    """The x axis tick labels as drawn: text and box, with the chart's own box."""
    return page.evaluate(
        """() => {
            const box = document.getElementById('chart').getBoundingClientRect();
            return [...document.querySelectorAll('#chart .xtick text')].map((t) => {
                const r = t.getBoundingClientRect();
                return {text: t.textContent, left: r.left, right: r.right,
                        chartLeft: box.left, chartRight: box.right};
            });
        }"""
    )


def test_a_one_bar_axis_is_labelled_in_days_not_sub_milliseconds(server, browser, airflow_auth):
    context, page = _page(browser, server, airflow_auth)
    page.goto(server + PAGE.format(symbol=IBM.symbol, tf="1d"))
    assert _drawn(page)["barCount"] == 1
    labels = [label["text"] for label in _x_labels(page)]
    assert labels, "no x axis labels"
    assert not [text for text in labels if re.search(r"\d:\d\d\.\d", text)], labels
    assert any("Jul" in text for text in labels), labels
    page.screenshot(path=str(ARTIFACTS / "chart_one_bar.png"))
    context.close()


@pytest.mark.parametrize("series", [MSFT, ETH], ids=["session-1m", "24x7-1m"])
def test_1m_axis_labels_stay_inside_the_chart(series, server, browser, airflow_auth):
    context, page = _page(browser, server, airflow_auth)
    page.goto(server + PAGE.format(symbol=series.symbol, tf="1m"))
    assert _drawn(page)["barCount"] == series.count
    labels = _x_labels(page)
    assert len(labels) >= 3, labels
    cut = [x for x in labels if x["left"] < x["chartLeft"] or x["right"] > x["chartRight"]]
    assert cut == [], cut
    page.screenshot(path=str(ARTIFACTS / f"chart_1m_{series.symbol.split(':')[1]}.png"))
    context.close()


def test_an_error_never_stands_above_the_previous_chart(server, browser, airflow_auth):
    context, page = _page(browser, server, airflow_auth)
    page.goto(server + PAGE.format(symbol=BTC.symbol, tf="1h"))
    _drawn(page)
    assert page.locator("#chart .main-svg").count() > 0
    page.fill("#symbol", "NYSE:NOPE")
    page.press("#symbol", "Enter")
    page.wait_for_function("document.getElementById('chart').dataset.state === 'error'")
    assert "NYSE:NOPE" in page.locator("#status").inner_text()
    assert page.locator("#chart .main-svg").count() == 0  # the BTC chart is gone
    assert page.evaluate("() => (document.getElementById('chart').data || []).length") == 0
    page.screenshot(path=str(ARTIFACTS / "chart_error.png"))
    context.close()


def test_the_symbol_box_offers_the_warehouse_instruments(server, browser, airflow_auth):
    context, page = _page(browser, server, airflow_auth)
    page.goto(server + PAGE.format(symbol=BTC.symbol, tf="1h"))
    _drawn(page)
    page.click("#symbol")  # a symbol is already in the box: the list still offers all
    options = page.locator("#symbol-list [role=option]")
    options.first.wait_for()
    assert options.count() == INSTRUMENTS
    assert page.get_attribute("#symbol", "aria-expanded") == "true"
    page.fill("#symbol", "apple")  # by description, any case
    assert options.count() == 1
    assert options.first.inner_text().startswith(AAPL.symbol)
    page.screenshot(path=str(ARTIFACTS / "chart_symbols.png"))
    options.first.click()
    page.wait_for_function(
        f"window.candleflowChart.symbol === '{AAPL.symbol}'"
        " && window.candleflowChart.state === 'ready'"
    )
    assert page.locator("#symbol").input_value() == AAPL.symbol
    assert page.locator("#symbol-list").is_hidden()
    page.fill("#symbol", "msf")  # by symbol; the keyboard picks it
    page.press("#symbol", "ArrowDown")
    page.press("#symbol", "Enter")
    page.wait_for_function(
        f"window.candleflowChart.symbol === '{MSFT.symbol}'"
        " && window.candleflowChart.state === 'ready'"
    )
    context.close()


def test_markup_in_a_description_is_shown_as_text(server, browser, airflow_auth):
    errors: list[str] = []
    context, page = _page(browser, server, airflow_auth, errors)
    page.goto(server + PAGE.format(symbol=XSS.symbol, tf="1d"))
    assert _drawn(page)["barCount"] == XSS.count
    title = page.locator("#chart .gtitle").text_content()
    assert MARKUP in title and XSS.symbol in title
    page.screenshot(path=str(ARTIFACTS / "chart_markup.png"))
    page.click("#symbol")
    page.fill("#symbol", "XSS")
    assert MARKUP in page.locator("#symbol-list [role=option]").first.inner_text()
    assert page.locator("img").count() == 0  # no element was made of it
    page.screenshot(path=str(ARTIFACTS / "chart_markup_list.png"))
    assert errors == [], errors
    context.close()
