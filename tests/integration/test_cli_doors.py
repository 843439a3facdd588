"""The candleflow command as typed: each command's output, its errors and what it writes.

Every case runs the real console script in a subprocess against the replay server and a
database of its own (the ``db_url`` fixture sets ``CANDLEFLOW_DATABASE_URL``), as a user
runs it: output a person reads by default, one JSON object with ``--json``, quiet unless
``-v``; bad input is one line and exit 2; a known failure one line and exit 1.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from candleflow.testing import ReplayServer, synthetic

CANDLEFLOW = str(Path(sys.executable).with_name("candleflow"))
START, END = dt.datetime(2024, 3, 4, tzinfo=dt.UTC), dt.datetime(2024, 3, 8, tzinfo=dt.UTC)
WINDOW = ["--start", "2024-03-04", "--end", "2024-03-08"]
FRAMES = ("Traceback", "╭", "│")
TICKS = "ts,price,size\n" + "".join(
    f"2024-03-04T15:{minute:02d}:{second:02d}Z,{100 + minute + second / 100:.2f},{second + 1}\n"
    for minute in range(30, 33)
    for second in (5, 20, 40)
)

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


@pytest.fixture
def tv(server, monkeypatch):
    """The replay server as TradingView for the subprocesses."""
    monkeypatch.setenv("CANDLEFLOW_TRADINGVIEW_URL", server.url)
    return server


def _lines(stderr: str) -> list[str]:
    """stderr's lines without a warning of the environment (platformdirs without XDG dirs)."""
    noise = ("RuntimeDirWarning", "return Path(self.user_runtime_dir)")
    return [line for line in stderr.splitlines() if not any(n in line for n in noise)]


def one_error_line(done, code: int) -> str:
    assert done.returncode == code, (done.stdout, done.stderr)
    lines = _lines(done.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert not any(frame in done.stderr for frame in FRAMES), done.stderr
    return lines[0]


def count_rows(db, symbol: str) -> dict[str, int]:
    """Rows of ``symbol`` in every table keyed by instrument id or symbol (non-zero only)."""
    with db.cursor() as cur:
        cur.execute("SELECT id FROM candleflow.instruments WHERE symbol = %s", (symbol,))
        found = cur.fetchone()
        cur.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'candleflow' AND column_name IN ('instrument_id', 'symbol') "
            "AND table_name IN (SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'candleflow' AND table_type = 'BASE TABLE')"
        )
        counts: dict[str, int] = {}
        for table, column in cur.fetchall():
            key = symbol if column == "symbol" else (found[0] if found else -1)
            cur.execute(f"SELECT count(*) FROM candleflow.{table} WHERE {column} = %s", (key,))  # noqa: S608 - names from the catalogue
            n = cur.fetchone()[0]
            if n:
                counts[f"{table}.{column}"] = n
    db.commit()
    return counts


# --- rollup, as typed (it crashed after committing its bars) ----------------------------------


def test_rollup_runs_as_typed_and_prints_what_it_built(db_url, db, tmp_path):
    ticks = tmp_path / "ticks.csv"
    ticks.write_text(TICKS)
    imported = run("ticks", "import", str(ticks), "--symbol", "NASDAQ:AAPL")
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout == (
        "NASDAQ:AAPL: 9 ticks read from ticks.csv, 9 stored, 0 duplicates, 0 rejected\n"
    )
    rolled = run("rollup")
    assert rolled.returncode == 0, rolled.stderr
    assert rolled.stdout.startswith("rolled up ") and "1m 3" in rolled.stdout, rolled.stdout
    assert "Traceback" not in rolled.stderr
    with db.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM candleflow.bars WHERE timeframe = '1m' AND source = 'rollup'"
        )
        assert cur.fetchone()[0] == 3
    again = run("rollup", "--start", "2024-03-04", "--end", "2024-03-05", "--json")
    assert again.returncode == 0, again.stderr
    counts = json.loads(again.stdout)
    assert counts["built"]["1m"] == 3 and set(counts) >= {"built", "inserted", "updated"}


# --- bad input: one line naming it, exit 2 ---------------------------------------------------


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (
            ["sync", "NASDAQ:AAPL", "-t", "1h", *WINDOW, "--provider", "tradinview"],
            "--provider: unknown provider 'tradinview'; expected one of tradingview, ",
        ),
        (
            ["sync", "NASDAQ:AAPL", "-t", "1h", *WINDOW, "-o", "max_bar=5000"],
            "--provider-option: unknown option 'max_bar' of provider tradingview; expected one "
            "of max_bars, ",
        ),
        (
            ["fetch", "NASDAQ:AAPL", "-t", "1h", *WINDOW, "-o", "max_bars=abc"],
            "option max_bars of provider tradingview: 'abc'; expected a whole number",
        ),
        (
            ["fetch", "NASDAQ:AAPL", "-t", "1h", *WINDOW, "--provider", "files"],
            "--file: --provider files reads a vendor file: give it with --file FILE",
        ),
        (
            ["sync", "NASDAQ:AAPL", "-t", "1h", "--start", "0001-01-01", "--end", "9999-12-31"],
            "--start: '0001-01-01' is out of range; expected a time between 1800-01-01 and",
        ),
        (
            ["bars", "NASDAQ:AAPL", "-t", "1h", "--start", "2024-01-01", "--end", "9999-12-31"],
            "--end: '9999-12-31' is out of range",
        ),
        (
            ["sync", "NASDAQ:AAPL", "NASDAQ:AA PL", "-t", "1h", *WINDOW],
            "bad symbol 'NASDAQ:AA PL': whitespace is not allowed",
        ),
        (
            ["bars", "NASDAQ:AAPL:X", "-t", "1h", *WINDOW],
            "bad symbol 'NASDAQ:AAPL:X': more than one ':'",
        ),
        (
            ["fetch", "BINANCE:XRP/ETH", "-t", "1h", *WINDOW],
            "'/' is not allowed (the exchange's own ticker, e.g. BINANCE:XRPETH?)",
        ),
        (["rollup", "--start", "yesterday"], "--start: 'yesterday' is not a time"),
        (["instruments", "remove", "NASDAQ:AAPL"], "--yes: removing NASDAQ:AAPL deletes"),
    ],
    ids=lambda value: value[0] if isinstance(value, list) else None,
)
def test_bad_input_is_one_line_naming_it_and_exit_2(args, named):
    line = one_error_line(run(*args), 2)
    assert named in line, line


def test_tv_decode_refuses_binary_and_deeply_nested_captures(tmp_path):
    binary = tmp_path / "capture.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    line = one_error_line(run("tv", "decode", str(binary)), 2)
    assert f"{binary}: not a text capture (byte 128 is not UTF-8)" in line
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000)
    assert "JSON nests too deeply to parse" in one_error_line(run("tv", "decode", str(deep)), 2)
    framed = tmp_path / "deep.txt"
    payload = "[" * 100_000
    framed.write_text(f"~m~{len(payload)}~m~{payload}\n")
    line = one_error_line(run("tv", "decode", str(framed)), 2)
    assert f"{framed}:1: payload nests too deeply to parse" in line


def test_a_byte_order_mark_in_a_tick_csv_is_read_like_the_bar_path_reads_it(db_url, tmp_path):
    plain, marked = tmp_path / "plain.csv", tmp_path / "marked.csv"
    plain.write_text(TICKS)
    marked.write_bytes(b"\xef\xbb\xbf" + TICKS.encode())
    first = run("ticks", "import", str(marked), "--symbol", "NASDAQ:AAPL", "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["inserted"] == 9
    again = run("ticks", "import", str(plain), "--symbol", "NASDAQ:AAPL", "--json")
    assert json.loads(again.stdout) == {**json.loads(first.stdout), "inserted": 0, "duplicates": 9}


# --- output a person reads -------------------------------------------------------------------


def test_the_help_describes_the_product_not_its_implementation():
    done = run("--help")
    assert done.returncode == 0
    assert "OHLCV bars and quote ticks" in done.stdout
    assert "Typer" not in done.stdout and "module" not in done.stdout


def test_commands_are_quiet_by_default_and_log_with_v(db_url, tv):
    quiet = run("sync", "NASDAQ:AAPL", "-t", "1h", *WINDOW)
    assert quiet.returncode == 0, quiet.stderr
    assert not re.search(r" (INFO|DEBUG) ", quiet.stderr), quiet.stderr
    n = len(synthetic.bars("NASDAQ:AAPL", "1h", START, END, seed=3))
    assert quiet.stdout.startswith(f"NASDAQ:AAPL 1h: {n} fetched, 0 inserted") or (
        quiet.stdout.startswith(f"NASDAQ:AAPL 1h: {n} fetched, {n} inserted")
    )
    loud = run("-v", "sync", "NASDAQ:AAPL", "-t", "1h", *WINDOW)
    assert " INFO candleflow.services.load: loaded NASDAQ:AAPL 1h" in loud.stderr
    assert " DEBUG " not in loud.stderr
    assert " DEBUG " in run("-vv", "sync", "NASDAQ:AAPL", "-t", "1h", *WINDOW).stderr


def test_sync_prints_json_for_programs_with_json(db_url, tv):
    done = run("sync", "NASDAQ:AAPL", "NASDAQ:BADSYM", "-t", "1h", *WINDOW, "--json")
    assert done.returncode == 1  # one symbol failed
    body = json.loads(done.stdout)
    n = len(synthetic.bars("NASDAQ:AAPL", "1h", START, END, seed=3))
    by_symbol = {row["symbol"]: row for row in body["symbols"]}
    assert by_symbol["NASDAQ:AAPL"]["rows_inserted"] == n
    assert by_symbol["NASDAQ:AAPL"]["outcome"] == "success"
    assert by_symbol["NASDAQ:BADSYM"]["outcome"] == "failed"
    assert "symbol not found" in by_symbol["NASDAQ:BADSYM"]["error"]


def test_bars_as_a_table_are_aligned_in_columns(db_url, tv):
    assert run("sync", "NASDAQ:AAPL", "-t", "1h", *WINDOW).returncode == 0
    done = run("bars", "NASDAQ:AAPL", "-t", "1h", *WINDOW, "--format", "table")
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    assert header.split() == ["ts", "open", "high", "low", "close", "volume", "complete"]
    assert len(rows) == len(synthetic.bars("NASDAQ:AAPL", "1h", START, END, seed=3))
    for name in ("open", "high", "low", "close", "volume"):  # numbers end where their name ends
        end = header.index(name) + len(name)
        assert {row[end - 1] != " " and row[end] == " " for row in rows} == {True}, name
    complete = header.index("complete")
    assert {row[complete:] for row in rows} == {"true"}


def test_an_unknown_or_lowercase_symbol_is_an_error_suggesting_the_closest(db_url, tv):
    assert run("sync", "NASDAQ:AAPL", "-t", "1h", *WINDOW).returncode == 0
    done = run("bars", "nasdaq:aapl", "-t", "1h", *WINDOW)
    line = one_error_line(done, 1)
    assert line == (
        "error: unknown symbol 'nasdaq:aapl': the warehouse has no such instrument "
        "(1 stored; did you mean NASDAQ:AAPL?)"
    )
    assert done.stdout == ""
    empty = run("bars", "NASDAQ:AAPL", "-t", "1h", "--start", "2020-01-01", "--end", "2020-01-02")
    assert empty.returncode == 0 and "no bars for NASDAQ:AAPL 1h" in empty.stderr


def test_ticks_stream_is_quiet_and_ends_with_its_counts(db_url):
    with ReplayServer(seed=1) as live:  # the wall clock: the ticks are not late
        env = {"CANDLEFLOW_TRADINGVIEW_URL": live.url + "?tick_interval=0.05"}
        done = run("ticks", "stream", "BINANCE:BTCUSDT", "--duration", "3", env=env)
        assert done.returncode == 0, done.stderr
        assert not re.search(r" (INFO|DEBUG) ", done.stderr), done.stderr  # no line per flush
        match = re.fullmatch(
            r"BINANCE:BTCUSDT: (\d+) ticks read, (\d+) stored, 0 duplicates, 0 rejected "
            r"\(\d+\.\ds\)\n",
            done.stdout,
        )
        assert match and int(match[1]) == int(match[2]) > 0, done.stdout
        as_json = run("ticks", "stream", "BINANCE:ETHUSDT", "--duration", "1", "--json", env=env)
        assert json.loads(as_json.stdout)["inserted"] > 0


# --- a mistyped symbol, and taking an instrument out again -----------------------------------


def test_a_typo_fails_against_the_replay_server_as_against_tradingview(db_url, db, tv):
    done = run("sync", "NASDAQ:APPL", "-t", "1h", *WINDOW)
    assert done.returncode == 1
    assert _lines(done.stderr) == [  # one line: the library's ERROR logs are -v's
        "NASDAQ:APPL: FAILED: symbol not found: 'NASDAQ:APPL' (invalid symbol)"
    ]
    assert count_rows(db, "NASDAQ:APPL") == {"load_audit.symbol": 1}  # no instrument


def test_instruments_list_and_remove_take_every_row_of_the_symbol_and_nothing_else(
    db_url, db, tv, tmp_path
):
    assert run("sync", "NASDAQ:AAPL", "NYSE:IBM", "-t", "1h", *WINDOW).returncode == 0
    ticks = tmp_path / "ticks.csv"
    ticks.write_text(TICKS + "2024-03-04T15:40:00Z,-5,1\n")  # one rejected tick
    assert run("ticks", "import", str(ticks), "--symbol", "NASDAQ:AAPL").returncode == 0
    assert run("rollup").returncode == 0
    assert run("sync", "NASDAQ:APPL", "-t", "1h", *WINDOW).returncode == 1  # an audit row

    listed = run("instruments", "list")
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split()[:3] == ["symbol", "series_session", "description"]
    assert [row.split()[0] for row in rows] == ["NASDAQ:AAPL", "NYSE:IBM"]
    assert "Apple Inc." in rows[0]
    found = json.loads(run("instruments", "list", "apple", "--json").stdout)
    assert [row["symbol"] for row in found] == ["NASDAQ:AAPL"]

    before = count_rows(db, "NASDAQ:AAPL")
    assert {"bars.instrument_id", "ticks.instrument_id", "rejected_ticks.instrument_id",
            "load_audit.symbol", "sync_state.instrument_id"} <= set(before)  # fmt: skip
    ibm = count_rows(db, "NYSE:IBM")
    removed = run("instruments", "remove", "NASDAQ:AAPL", "--yes", "--json")
    assert removed.returncode == 0, removed.stderr
    deleted = json.loads(removed.stdout)["deleted"]
    assert deleted["instruments"] == 1
    assert deleted["bars"] == before["bars.instrument_id"]
    assert deleted["ticks"] == before["ticks.instrument_id"] == 9
    assert count_rows(db, "NASDAQ:AAPL") == {}
    assert count_rows(db, "NYSE:IBM") == ibm  # nothing of another symbol
    typo = run("instruments", "remove", "NASDAQ:APPL", "--yes")
    assert typo.stdout == "removed NASDAQ:APPL with 1 load_audit\n"
    assert count_rows(db, "NASDAQ:APPL") == {}
    line = one_error_line(run("instruments", "remove", "NYSE:IMB", "--yes"), 1)
    assert line.endswith("(1 stored; did you mean NYSE:IBM?)"), line


def test_a_failed_removal_leaves_everything_in_place(db_url, db, tv):
    from candleflow.db import connection, removal

    assert run("sync", "NASDAQ:AAPL", "-t", "1h", *WINDOW).returncode == 0
    before = count_rows(db, "NASDAQ:AAPL")
    with db.cursor() as cur:  # a table late in the order refuses its delete
        cur.execute(
            "CREATE FUNCTION public.refuse() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$"
        )
        cur.execute(
            "CREATE TRIGGER refuse BEFORE DELETE ON candleflow.sync_state "
            "FOR EACH ROW EXECUTE FUNCTION public.refuse()"
        )
    db.commit()
    import psycopg2

    with (
        pytest.raises(psycopg2.Error, match="refused by the test"),
        connection.transaction(db_url) as conn,
    ):
        removal.remove_instrument(conn, "NASDAQ:AAPL")
    assert count_rows(db, "NASDAQ:AAPL") == before


# --- the warehouse: the candleflow_warehouse connection first ------------------------------


def test_the_cli_writes_to_the_warehouse_the_airflow_connection_names(
    db_url, db, connection_db_url, tv
):
    from candleflow.db import connection

    env = {"AIRFLOW_CONN_CANDLEFLOW_WAREHOUSE": connection_db_url}
    done = run("sync", "NASDAQ:AAPL", "-t", "1h", *WINDOW, env=env)
    assert done.returncode == 0, done.stderr
    assert count_rows(db, "NASDAQ:AAPL") == {}  # not CANDLEFLOW_DATABASE_URL's warehouse
    other = connection.connect(connection_db_url)
    try:
        assert count_rows(other, "NASDAQ:AAPL")["bars.instrument_id"] == len(
            synthetic.bars("NASDAQ:AAPL", "1h", START, END, seed=3)
        )
    finally:
        other.close()
    status = run("db", "status", env=env)
    assert "(Airflow connection candleflow_warehouse): schema version" in status.stdout
    assert "(CANDLEFLOW_DATABASE_URL): schema version" in run("db", "status").stdout
