"""Every command a user reads is run: the shell blocks of README.md and docs/*.md.

Why: a unit test of the function under a command is not the command as typed
(``candleflow rollup`` once committed its bars and then crashed on every call, and no test
ran it). So this test reads the fenced ``bash``/``sh``/``shell``/``console`` blocks of the
README, then of ``docs/*.md`` in name order, and runs them in that order as a user would,
one shell session: ``export`` lines set the environment of the commands after them, a
command ending in ``&`` (the replay server, the Binance stub) runs in the background until
the end. It runs every ``candleflow`` / ``.venv/bin/candleflow`` and ``make`` command, and
the background servers of ``candleflow.testing``, and fails on a non-zero exit or a
traceback. A command added to the docs later is picked up without a change here.

The session is offline and fresh: a new embedded warehouse (its own ``CANDLEFLOW_HOME``),
this test's replay server as TradingView until a doc starts its own, no exchange. A doc's
background server gets a free port in place of the one the doc names (and the exports after
it follow); an ``export`` of a URL outside this machine is not applied. Not run, each with
its reason: the commands in ``EXCLUDED``, and commands that would reach an outside service
(``NEEDS``) while no local stand-in is configured.
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from candleflow.stack.env import free_port
from candleflow.testing import ReplayServer
from tests.support.shared_data import data_root

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELLS = {"bash", "sh", "shell", "console", "zsh"}
BIN = Path(sys.executable).parent
COMMAND_TIMEOUT_S = 180

# Commands not run here, and why (matched at the start of the command, after any VAR=value).
EXCLUDED: list[tuple[str, str]] = [
    (r"make up\b", "runs the whole Airflow stack in the foreground (tests/e2e/test_stack.py)"),
    (r"(\.venv/bin/)?candleflow up\b", "what make up runs (tests/e2e/test_stack.py)"),
    (r"make test\b", "is this test suite"),
    (r"make compose-check\b", "needs a Docker engine, root and about 12 minutes; CI runs it"),
    (r"make bench\b", "runs every benchmark, about an hour; benchmarks/README.md reports it"),
    (r"make soak\b", "runs the stack for 20 minutes under injected faults"),
]
# A command matching the pattern reaches an outside service unless the variable points at
# this machine (a stand-in the docs started): without one it is not run, with this reason.
NEEDS: list[tuple[str, str, str]] = [
    (r"--provider[ =]ccxt\b", "CANDLEFLOW_CCXT_URLS", "ccxt talks to the exchange (Binance)"),
]
LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")

pytestmark = pytest.mark.timeout(900)


@dataclass
class Line:
    doc: str  # README.md:42
    text: str


@dataclass
class Session:
    """The shell of one reader: environment, background servers, the ports they really got."""

    env: dict[str, str]
    ports: dict[str, str] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)  # ports of servers that could not start
    background: list[subprocess.Popen] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def localise(self, text: str) -> str:
        """``text`` with the ports the docs name replaced by the ones this session got."""
        for doc_port, port in self.ports.items():
            text = re.sub(rf"(127\.0\.0\.1|localhost):{doc_port}\b", rf"\g<1>:{port}", text)
            text = re.sub(rf"(--port[ =]){doc_port}\b", rf"\g<1>{port}", text)
        return text


def shell_lines(path: Path, root: Path = ROOT) -> Iterator[Line]:
    """The lines of the shell blocks of ``path``, continuations joined, comments dropped."""
    text = path.read_text()
    for block in re.finditer(r"^```(\w*)[^\n]*\n(.*?)^```", text, re.M | re.S):
        if block.group(1) not in SHELLS:
            continue
        first = text.count("\n", 0, block.start(2)) + 1
        pending, start = "", first
        for offset, raw in enumerate(block.group(2).splitlines()):
            line = raw.strip()
            if not pending:
                start = first + offset
            if line.endswith("\\"):
                pending += line[:-1].rstrip() + " "
                continue
            line = (pending + line).strip()
            pending = ""
            line = line[2:] if line.startswith("$ ") else line
            if line and not line.startswith("#"):
                yield Line(f"{path.relative_to(root)}:{start}", line)


def _is_local(value: str) -> bool:
    hosts = re.findall(r"://([^/:'\"\s]+)", value)
    return all(host in LOCAL_HOSTS for host in hosts)


def _program(tokens: list[str]) -> list[str] | None:
    """The argv to run for ``tokens`` (their ``VAR=value`` prefix removed), or None when the
    line is not one this test runs (another tool: docker, airflow, cp, ...)."""
    name = tokens[0] if tokens else ""
    if name in ("candleflow", ".venv/bin/candleflow"):
        return [str(BIN / "candleflow"), *tokens[1:]]
    if name == "make":
        return tokens
    if (
        name in (".venv/bin/python", "python")
        and tokens[1:3]
        and tokens[2].startswith("candleflow.testing")
    ):
        return [sys.executable, *tokens[1:]]
    return None


def _split(line: str) -> tuple[dict[str, str], list[str], bool]:
    tokens = shlex.split(line, comments=True)
    background = bool(tokens) and tokens[-1] == "&"
    tokens = tokens[:-1] if background else tokens
    assignments = {}
    while tokens and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", tokens[0]):
        name, _, value = tokens.pop(0).partition("=")
        assignments[name] = value
    return assignments, tokens, background


def _first_line(proc: subprocess.Popen, timeout: float) -> str:
    """The first line a background server prints (its URL) once it listens."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            return ""
    return proc.stdout.readline()


def _start(session: Session, line: Line, argv: list[str], env: dict[str, str]) -> None:
    """A server the docs start in the background, on a free port, until the test ends.

    The Binance stub serves the shared freqtrade candles: without ``../shared/data`` it
    cannot start, and (outside CI) its block is not run, like every test of that data."""
    doc_port = argv[argv.index("--port") + 1] if "--port" in argv else None
    if "candleflow.testing.binance_stub" in argv and not (data_root() / "freqtrade").is_dir():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{line.doc}: shared test data {data_root()} is missing")
        session.missing.add(doc_port or "")
        session.skipped.append(f"{line.doc}: `{line.text}`: no shared test data here")
        return
    if doc_port is not None:
        index = argv.index("--port") + 1
        port = str(free_port())
        session.ports[doc_port] = port
        argv[index] = port
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )
    session.background.append(proc)
    session.ran.append(f"{line.doc}: `{line.text}`")
    ready = _first_line(proc, 60)
    assert ready and proc.poll() is None, (
        f"{line.doc}: `{line.text}` did not start: {proc.stderr.read() if proc.poll() else ''}"
    )


def _excluded(session: Session, command: str, env: dict[str, str]) -> str | None:
    for pattern, reason in EXCLUDED:
        if re.match(pattern, command):
            return reason
    for pattern, variable, reason in NEEDS:
        stand_in = env.get(variable, "")
        if re.search(pattern, command) and not (stand_in and _is_local(stand_in)):
            return f"{reason}; no local stand-in in {variable}"
    return None


def _run(session: Session, line: Line) -> None:
    text = session.localise(line.text)
    assignments, tokens, background = _split(text)
    if tokens[:1] == ["export"]:
        for item in tokens[1:]:
            name, _, value = item.partition("=")
            if not _is_local(value):
                session.skipped.append(f"{line.doc}: `{line.text}`: an outside service")
            elif any(re.search(rf":{port}\b", value) for port in session.missing if port):
                session.skipped.append(f"{line.doc}: `{line.text}`: its server did not start")
            else:
                session.env[name] = value
        return
    argv = _program(tokens)
    if argv is None:
        return
    env = {**session.env, **assignments}
    reason = _excluded(session, " ".join(tokens), env)
    if reason is not None:
        session.skipped.append(f"{line.doc}: `{line.text}`: {reason}")
        return
    if background:
        _start(session, line, argv, env)
        return
    session.ran.append(f"{line.doc}: `{line.text}`")
    done = subprocess.run(
        argv, capture_output=True, text=True, env=env, cwd=ROOT, timeout=COMMAND_TIMEOUT_S
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0 and "Traceback" not in output, (
        f"{line.doc}: `{line.text}` exited {done.returncode}:\n{output[-3000:]}"
    )


@pytest.fixture
def session() -> Iterator[Session]:
    """A fresh checkout's shell, offline: its own embedded warehouse and this test's replay
    server as TradingView (a doc that starts its own replaces it)."""
    home = Path(tempfile.mkdtemp(prefix="cf-test-docs-", dir="/tmp"))
    home.chmod(0o755)  # the embedded server may run as another user: it must get through
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CANDLEFLOW_", "AIRFLOW"))}
    env.update(CANDLEFLOW_HOME=str(home / "cf"), CANDLEFLOW_SHARED_DATA=str(data_root()))
    with ReplayServer(seed=1) as tv:
        env["CANDLEFLOW_TRADINGVIEW_URL"] = tv.url
        shell = Session(env)
        try:
            yield shell
        finally:
            for proc in shell.background:
                proc.terminate()
            for proc in shell.background:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=10)
                if proc.poll() is None:
                    proc.kill()
            stop = [str(BIN / "candleflow"), "db", "stop"]
            subprocess.run(stop, env=shell.env, capture_output=True, timeout=60, check=False)
            shutil.rmtree(home, ignore_errors=True)


def test_every_command_in_the_readme_and_docs_runs_as_typed(session: Session) -> None:
    began = time.monotonic()
    for path in DOCS:
        for line in shell_lines(path):
            _run(session, line)
    print(f"ran {len(session.ran)} commands in {time.monotonic() - began:.0f}s:")
    print("\n".join(session.ran))
    print("not run:\n" + "\n".join(session.skipped))
    readme = [c for c in session.ran if c.startswith("README.md")]
    assert len(readme) >= 5, session.ran  # the reader's first steps were found and run
    assert any("candleflow rollup" in c for c in session.ran), session.ran


def test_the_reader_of_the_docs_finds_blocks_continuations_and_exclusions(tmp_path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(
        "intro\n```bash\n# a comment\n$ .venv/bin/candleflow fetch A:B \\\n  -t 1h\n"
        "make up  # the stack\n```\n```python\ncandleflow = 1\n```\n"
    )
    lines = [(ln.doc, ln.text) for ln in shell_lines(doc, tmp_path)]
    assert lines == [
        ("doc.md:4", ".venv/bin/candleflow fetch A:B -t 1h"),
        ("doc.md:6", "make up  # the stack"),
    ]
    shell = Session({})
    assert _excluded(shell, "make up", {}) is not None
    assert _excluded(shell, "candleflow sync X:Y --provider ccxt", {}) is not None
    local = {"CANDLEFLOW_CCXT_URLS": '{"binance": {"api": {"public": "http://127.0.0.1:1/"}}}'}
    assert _excluded(shell, "candleflow sync X:Y --provider ccxt", local) is None
    assert _excluded(shell, "candleflow sync X:Y", {}) is None
