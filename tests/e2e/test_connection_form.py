"""The Airflow UI's Connections form in a real headless Chromium shows Candleflow's fields.

A user creates the ``tradingview`` and ``ccxt`` connections in Admin > Connections: the form
must offer the types and show each one's fields under Candleflow's labels (what the provider
info declares as ``ui-field-behaviour`` and ``conn-fields``), and hide the fields that mean
nothing for the type. An ``airflow api-server`` runs on a free loopback port over the test
session's metadata database, every user an admin (``SIMPLE_AUTH_MANAGER_ALL_ADMINS``);
Debian's ``chromium`` is driven by Playwright (as in ``test_chart_page.py``). Screenshots go
to ``tests/artifacts/connection_form_<type>.png`` for a person to look at.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from candleflow.stack.env import free_port
from tests.support.browser import ARGS, ARTIFACTS

pytestmark = pytest.mark.timeout(600)

# connection type -> (its name in the list, standard fields, extra fields, fields hidden)
FORMS = {
    "tradingview": (
        "TradingView (Candleflow)",
        {"Description", "Endpoint", "Auth token"},
        {"Plan's bar limit", "Timeout (seconds)"},
        {"Login", "Port", "Schema", "Host", "Password"},
    ),
    "ccxt": (
        "ccxt exchange (Candleflow)",
        {"Description", "API key", "API secret"},
        {"Exchange", "Market type", "Passphrase"},
        {"Host", "Port", "Schema", "Login", "Password"},
    ),
}


def _visible_labels(dialog) -> set[str]:
    """The visible labels once two reads 250 ms apart agree.

    Each read is one snapshot (``all_inner_texts``): the form animates as a section opens, and
    reading label by label raced it (a label counted, then gone before its text was read).
    """
    shown: set[str] = set()
    for _ in range(40):
        texts = dialog.locator("label:visible").all_inner_texts()
        previous, shown = shown, {text.replace("*", "").strip() for text in texts}
        if shown and shown == previous:
            break
        dialog.page.wait_for_timeout(250)
    return shown


@pytest.fixture(scope="module")
def ui(airflow_env, tmp_path_factory):
    """The api-server's base URL, once it answers."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(
        airflow_env,
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
        AIRFLOW__API__BASE_URL=base,
        AIRFLOW__API__PORT=str(port),
    )
    log = tmp_path_factory.mktemp("ui") / "api-server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("airflow")), "api-server",
             "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{base}/api/v2/monitor/health", timeout=5):
                    break
            except (urllib.error.URLError, OSError):
                time.sleep(1)
        else:
            raise AssertionError(f"api-server not up: {log.read_text()[-3000:]}")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("conn_type", sorted(FORMS))
def test_the_connections_form_shows_the_types_fields(ui, chromium, conn_type):
    from playwright.sync_api import sync_playwright

    name, standard, extra, hidden = FORMS[conn_type]
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=ARGS)
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.goto(f"{ui}/connections")
            page.get_by_role("button", name="Add Connection").first.click()
            dialog = page.locator("[role=dialog]").first
            dialog.get_by_role("combobox").fill(conn_type)
            page.keyboard.press("Enter")
            dialog.get_by_text(name).first.wait_for()
            dialog.get_by_text(sorted(standard)[-1], exact=True).wait_for()
            page.screenshot(path=str(ARTIFACTS / f"connection_form_{conn_type}.png"))
            standard_shown = _visible_labels(dialog)
            dialog.get_by_text("Extra Fields", exact=True).click()
            dialog.get_by_text(sorted(extra)[-1], exact=True).wait_for()
            page.screenshot(path=str(ARTIFACTS / f"connection_form_{conn_type}_extra.png"))
            extra_shown = _visible_labels(dialog)
        finally:
            browser.close()
    assert standard <= standard_shown, standard_shown
    assert extra <= extra_shown, extra_shown
    assert not hidden & (standard_shown | extra_shown)
