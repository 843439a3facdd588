"""The candleflow command as a user meets it: errors, the warehouse schema, progress, output.

Bad input is one line that names the input and what was expected, exit code 2, no traceback
(-v adds it); a bug still shows its traceback. sync, ticks import, rollup and bars migrate
the embedded warehouse themselves and stop with the command to run on a configured one.
Most cases run the real console script in a subprocess (what a user runs); the many
bad-input cases call ``candleflow.cli.run`` in-process, the same code without the spawn.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from candleflow import cli
from candleflow.testing import ReplayServer, synthetic

CANDLEFLOW = str(Path(sys.executable).with_name("candleflow"))
START, END = dt.datetime(2024, 3, 4, tzinfo=dt.UTC), dt.datetime(2024, 3, 8, tzinfo=dt.UTC)
WINDOW = ["--start", "2024-03-04", "--end", "2024-03-08"]
FRAMES = ("Traceback", "╭", "│")  # a plain or a Rich traceback

pytestmark = pytest.mark.timeout(300)


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 240):
    return subprocess.run(
        [CANDLEFLOW, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def server():
    with ReplayServer(seed=3, now=END.timestamp()) as srv:
        yield srv


def tv_env(srv) -> dict[str, str]:
    return {"CANDLEFLOW_TRADINGVIEW_URL": srv.url}


BAD_INPUT = [
    (["fetch", "NASDAQ:AAPL", "-t", "7m", *WINDOW], ["'--timeframe'", "'7m'", "expected one of"]),
    (["fetch", "AAPL", "-t", "1h", *WINDOW], ["'AAPL'", "expected EXCHANGE:TICKER"]),
    (
        ["fetch", "NASDAQ:AAPL", "-t", "1h", "--start", "yesterday", "--end", "2024-01-02"],
        ["--start", "'yesterday'", "expected ISO-8601"],
    ),
    (
        ["fetch", "NASDAQ:AAPL", "-t", "1h", "--start", "2024-01-05", "--end", "2024-01-02"],
        ["--start 2024-01-05 is not before --end 2024-01-02", "expected start < end"],
    ),
    (["sync", "NASDAQ:AAPL", "BTCUSDT", "-t", "1h", *WINDOW], ["'BTCUSDT'", "EXCHANGE:TICKER"]),
    (["sync", "NASDAQ:AAPL", "-t", "1h", *WINDOW, "--reject-threshold", "2"], ["reject-threshold"]),
    (["bars", "NASDAQ:AAPL", "-t", "1h", *WINDOW, "--format", "xml"], ["--format", "'xml'"]),
    (["bars", "NASDAQ:AAPL", "-t", "1h", *WINDOW, "--fill", "linear"], ["--fill", "'linear'"]),
    (["bars", "NASDAQ:AAPL", "-t", "2d", *WINDOW], ["'--timeframe'", "'2d'"]),
    (["ticks", "import", "/no/such/file.csv", "--symbol", "X:Y"], ["'/no/such/file.csv'"]),
    (["ticks", "import", __file__, "--symbol", "XY"], ["--symbol", "'XY'", "EXCHANGE:TICKER"]),
    (["ticks", "import", __file__, "--symbol", "X:Y", "--mapping", "{oops"], ["--mapping"]),
    (["rollup", "--start", "2024-03-05", "--end", "2024-03-04"], ["is not before --end"]),
    (["tv", "decode", "/no/such/capture.txt"], ["'/no/such/capture.txt'", "does not exist"]),
    (["fetch", "NASDAQ:AAPL", "-t", "1h", "--start", "2024-01-01"], ["Missing option '--end'"]),
    (["fetch", "NASDAQ:AAPL", "-t", "1h", *WINDOW, "-o", "novalue"], ["'novalue'", "KEY=VALUE"]),
    (["bars", "NASDAQ:AAPL", "-t", "1h", *WINDOW, "--bogus"], ["No such option: --bogus"]),
]


@pytest.mark.parametrize(("args", "named"), BAD_INPUT, ids=[" ".join(a[:2]) for a, _ in BAD_INPUT])
def test_bad_input_is_one_line_naming_it_and_exit_2(args, named, capfd):
    code = cli.run(args)
    out, err = capfd.readouterr()
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for part in named:
        assert part in lines[0], lines[0]
    assert not any(frame in err for frame in FRAMES), err
    assert out == ""


def test_the_console_script_prints_the_same_one_line_and_exit_2():
    done = run("fetch", "NASDAQ:AAPL", "-t", "7m", *WINDOW)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: Invalid value for '--timeframe' / '-t': unknown timeframe '7m'; expected one of "
        "1m, 3m, 5m, 15m, 30m, 45m, 1h, 2h, 3h, 4h, 1d, 1w, 1mo (see 'candleflow fetch --help')"
    ]


def test_verbose_adds_the_traceback_of_a_bad_input(capfd):
    code = cli.run(["-v", "fetch", "NASDAQ:AAPL", "-t", "1h", "--start", "x", "--end", "y"])
    err = capfd.readouterr().err
    assert code == 2
    assert "Traceback (most recent call last)" in err and "in timestamp" in err
    assert err.strip().splitlines()[-1].startswith("error: Invalid value for --start: 'x'")


def test_an_unexpected_error_still_shows_its_traceback():
    script = (
        "from candleflow import cli\n"
        "@cli.app.command('boom')\n"
        "def boom() -> None:\n"
        "    {}['missing']\n"
        "cli.main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, "boom"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "KeyError" in done.stderr and "missing" in done.stderr
    assert "error: " not in done.stderr


def test_a_known_failure_is_one_line_and_exit_1(db_url, server):
    done = run("sync", "NASDAQ:BADSYM", "-t", "1h", *WINDOW, env=tv_env(server))
    assert done.returncode == 1
    failures = [line for line in done.stderr.splitlines() if "FAILED" in line]
    assert failures == [f"NASDAQ:BADSYM: FAILED: {failures[0].split('FAILED: ', 1)[1]}"]
    assert "BADSYM" in failures[0] and not any(frame in done.stderr for frame in FRAMES)


# --- the warehouse schema --------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["sync", "NASDAQ:AAPL", "-t", "1h", *WINDOW],
        ["bars", "NASDAQ:AAPL", "-t", "1h", *WINDOW],
        ["rollup"],
        ["ticks", "import", __file__, "--symbol", "NASDAQ:AAPL"],
    ],
    ids=["sync", "bars", "rollup", "ticks import"],
)
def test_a_configured_warehouse_behind_the_code_names_the_command_to_run(
    empty_db_url, server, args
):
    env = {"CANDLEFLOW_DATABASE_URL": empty_db_url, **tv_env(server)}
    done = run(*args, env=env)
    assert done.returncode == 1, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: warehouse schema is at version None"), done.stderr
    assert "run `candleflow db migrate`" in last and "nothing was fetched or written" in last
    assert not any(frame in done.stderr for frame in FRAMES)
    assert server.stats.connections == []  # stopped before opening the provider


@pytest.fixture
def fresh_checkout(monkeypatch: pytest.MonkeyPatch):
    """A checkout whose embedded server was never started: its own CANDLEFLOW_HOME.

    Not under pytest's tmp_path: under root the server runs as another user, who must
    traverse the folders above its data, and pytest keeps its base folder 0700.
    """
    import shutil
    import tempfile

    from candleflow.db import embedded

    home = Path(tempfile.mkdtemp(prefix="cf-test-cli-", dir="/tmp"))
    home.chmod(0o755)
    monkeypatch.delenv("CANDLEFLOW_DATABASE_URL", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_CANDLEFLOW_WAREHOUSE", raising=False)
    yield {"CANDLEFLOW_HOME": str(home / "cf")}
    monkeypatch.setenv("CANDLEFLOW_HOME", str(home / "cf"))
    embedded.stop()
    shutil.rmtree(home, ignore_errors=True)


def test_sync_and_bars_migrate_a_fresh_embedded_warehouse_on_their_own(fresh_checkout, server):
    env = {**fresh_checkout, **tv_env(server)}
    synced = run("-v", "sync", "NASDAQ:AAPL", "-t", "1h", *WINDOW, env=env)
    assert synced.returncode == 0, synced.stderr
    assert "migrated the embedded warehouse" in synced.stderr  # an INFO line: -v shows it
    expected = synthetic.bars("NASDAQ:AAPL", "1h", START, END, seed=3)
    n = len(expected)
    assert synced.stdout.startswith(f"NASDAQ:AAPL 1h: {n} fetched, {n} inserted"), synced.stdout

    printed = run("-v", "bars", "NASDAQ:AAPL", "-t", "1h", *WINDOW, "--format", "json", env=env)
    assert printed.returncode == 0, printed.stderr
    assert "migrated" not in printed.stderr  # current now: nothing to apply
    rows = json.loads(printed.stdout)
    assert [row["ts"] for row in rows] == [
        ts.strftime("%Y-%m-%dT%H:%M:%SZ") for ts in expected["ts"]
    ]
    assert [row["close"] for row in rows] == pytest.approx(list(expected["close"]))
    assert all(row["complete"] is True for row in rows)


# --- progress ------------------------------------------------------------------------------


def test_off_a_terminal_progress_is_plain_log_lines(db_url, server, monkeypatch, capfd):
    from candleflow.cli import sync as cli_sync

    monkeypatch.setenv("CANDLEFLOW_TRADINGVIEW_URL", server.url)
    monkeypatch.setattr(cli_sync, "STEP_BARS", 24)  # four steps of a day for the 4-day window
    code = cli.run(["-v", "sync", "NASDAQ:AAPL", "BINANCE:BTCUSDT", "-t", "1h", *WINDOW])
    out, err = capfd.readouterr()
    assert code == 0, err
    steps = [line for line in err.splitlines() if "candleflow.cli.progress: sync: " in line]
    assert [line.split("sync: ")[1].split(" done")[0] for line in steps] == [
        f"{n}/8" for n in range(1, 9)
    ]
    labels = sorted(line.split(" done (")[1].split("), ")[0] for line in steps)
    days = [f"[2024-03-0{d} 00:00, 2024-03-0{d + 1} 00:00)" for d in range(4, 8)]
    assert labels == sorted(
        f"{s} {day}" for s in ("BINANCE:BTCUSDT", "NASDAQ:AAPL") for day in days
    )
    assert steps[-1].split("), ")[1].endswith(" bars/s")
    assert "\x1b[" not in err and "━" not in err  # no control codes, no bar
    assert out.count("\n") == 2  # one summary line per symbol


def test_on_a_terminal_progress_is_a_bar_with_counts_and_rate(db_url, server):
    import pty
    import select

    master, slave = pty.openpty()
    env = {**os.environ, **tv_env(server), "TERM": "xterm-256color", "COLUMNS": "160"}
    proc = subprocess.Popen(
        [CANDLEFLOW, "sync", "BINANCE:BTCUSDT", "-t", "1h", *WINDOW],
        stdout=subprocess.PIPE,
        stderr=slave,
        env=env,
    )
    os.close(slave)
    screen = b""
    while True:
        ready, _, _ = select.select([master], [], [], 120)
        if not ready:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        screen += chunk
    out, _ = proc.communicate(timeout=120)
    os.close(master)
    text = screen.decode(errors="replace")
    assert proc.returncode == 0, text
    assert "━" in text and "1/1" in text and "bars/s" in text, text
    assert out.decode().startswith("BINANCE:BTCUSDT 1h: ")
