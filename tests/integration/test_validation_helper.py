"""The validation helper process: a cold process (the CLI) validates its batches there.

Held to the in-process path: the same verdicts, rejects and counts; a ``candleflow sync`` of
enough windows really uses it (the audit rows name the helper's pid); a helper that died
leaves the chunk to validate in its own process, losing nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from candleflow.services.chunk import sync_chunk
from candleflow.services.sync import settings_for
from candleflow.testing import ReplayServer
from candleflow.validation import sidecar, validate_windows
from tests.support.bars import closed_bars, stored_bars
from tests.support.windows import FRAMES, bars, hour_window

START = dt.datetime(2024, 3, 5, 12, tzinfo=dt.UTC)
END = START + dt.timedelta(hours=1)
SYMBOLS = [f"BINANCE:C{i:04d}USDT" for i in range(10)] + [f"NYSE:S{i:04d}" for i in range(10)]
CLI = str(Path(sys.executable).with_name("candleflow"))

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def server():
    # any_symbol: the universe is invented (BINANCE:C0000USDT, NYSE:S0000, ...)
    with ReplayServer(seed=3, now=END.timestamp() + 60, any_symbol=True) as srv:
        yield srv


def test_the_helper_judges_each_window_as_this_process_does():
    windows = [hour_window(s, make()) for s, make in FRAMES.items()]
    windows.append(hour_window("BINANCE:ADAUSDT", bars().drop(columns="close")))  # unusable
    helper = sidecar.Sidecar()
    try:
        remote = helper.submit(windows, 0.5).result(timeout=120)
    finally:
        helper.close()
    local = validate_windows(windows, jump_threshold=0.5)
    assert isinstance(remote[-1], ValueError) and "close" in str(remote[-1])
    for window, got, want in zip(windows[:-1], remote[:-1], local[:-1], strict=True):
        symbol = window.instrument.symbol
        pd.testing.assert_frame_equal(got.valid, want.valid, obj=symbol)
        pd.testing.assert_frame_equal(got.rejected, want.rejected, obj=symbol)
        pd.testing.assert_frame_equal(got.flagged, want.flagged, obj=symbol)
        assert got.summary["rules"] == want.summary["rules"], symbol
        assert got.summary["expectations"] == want.summary["expectations"], symbol
        assert got.summary["gx_batch"]["helper_pid"] != os.getpid()
        assert "helper_pid" not in want.summary["gx_batch"]


def test_a_cold_cli_sync_validates_in_the_helper_and_loads_every_bar(server, db_url, db):
    env = dict(os.environ, CANDLEFLOW_DATABASE_URL=db_url, CANDLEFLOW_TRADINGVIEW_URL=server.url)
    window = ["--start", START.isoformat(), "--end", END.isoformat()]
    result = subprocess.run(
        [CLI, "sync", *SYMBOLS, "-t", "1h", *window],
        env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    for symbol in SYMBOLS:
        pd.testing.assert_frame_equal(
            stored_bars(db, symbol), closed_bars(symbol, START, END, seed=3), obj=symbol
        )
    batches = _gx_batches(db)
    assert len(batches) == len(SYMBOLS) // 2  # the XNYS symbols have no bar closing at 13:00
    pids = {json.dumps(b.get("helper_pid")) for b in batches.values()}
    assert len(pids) == 1 and "null" not in pids, batches


def test_a_dead_helper_leaves_the_chunk_to_validate_here(server, db_url, db, monkeypatch):
    dead = sidecar.Sidecar()
    dead.proc.kill()
    dead.proc.wait()
    monkeypatch.setitem(sidecar._HELPER, os.getpid(), dead)
    crypto = [f"BINANCE:D{i:04d}USDT" for i in range(sidecar.MIN_WINDOWS)]
    options = {"url": server.url, "timeout": 10, "backoff": 0.05}
    chunk = sync_chunk(
        crypto, "1h", START, END, settings_for(run_id="r", url=db_url), provider_options=options
    )
    dead.close()
    assert [s.outcome for s in chunk.symbols] == ["success"] * len(crypto)
    for symbol in crypto:
        pd.testing.assert_frame_equal(
            stored_bars(db, symbol), closed_bars(symbol, START, END, seed=3), obj=symbol
        )
    batches = _gx_batches(db)
    assert len(batches) == len(crypto)  # every window validated, none by the dead helper
    assert not [b for b in batches.values() if "helper_pid" in b], batches


def _gx_batches(db) -> dict[str, dict]:
    """Each validated window's ``gx_batch`` (which GX run judged it), by symbol."""
    with db.cursor() as cur:
        cur.execute(
            "SELECT symbol, validation->'summary'->'gx_batch' FROM candleflow.load_audit"
            " WHERE validation IS NOT NULL"
        )
        return dict(cur.fetchall())
