"""Settings: one parser (``candleflow.config``), and every variable the package reads is in
``.env.example``.

The source is read with ``ast`` (nothing is imported), so a new variable or a new direct read
of ``os.environ`` fails here before it ships undocumented.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from candleflow import config
from candleflow.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "include" / "candleflow"
NAME = re.compile(r"CANDLEFLOW_[A-Z0-9_]*[A-Z0-9]")


def documented() -> set[str]:
    return set(re.findall(r"^# ?([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))


def variables_read() -> dict[str, str]:
    """Every ``CANDLEFLOW_*`` name in the package's source, with a module that names it; an
    f-string's constant head (``f"CANDLEFLOW_CCXT_{exchange}_..."``) stands for its family."""
    found: dict[str, str] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.JoinedStr) and node.values:
                head = node.values[0]
                if isinstance(head, ast.Constant) and str(head.value).startswith("CANDLEFLOW_"):
                    found.setdefault(f"{head.value}*", str(path.relative_to(PACKAGE)))
            elif isinstance(node, ast.Constant) and NAME.fullmatch(str(node.value)):
                found.setdefault(node.value, str(path.relative_to(PACKAGE)))
    return found


def test_every_variable_the_package_reads_is_in_env_example():
    names = documented()
    missing = [
        f"{name} ({module})"
        for name, module in variables_read().items()
        if not (
            any(n.startswith(name[:-1]) for n in names) if name.endswith("*") else name in names
        )
    ]
    assert missing == []


def _reads_environ(node: ast.AST) -> bool:
    """``os.environ.get(...)``, ``os.environ[...]`` or ``os.getenv(...)``: a read, not a write
    (``setdefault`` for a library's own switch) nor a copy for a child process."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        func = node.func
        if func.attr == "getenv" and isinstance(func.value, ast.Name) and func.value.id == "os":
            return True
        return func.attr == "get" and ast.unparse(func.value) == "os.environ"
    return (
        isinstance(node, ast.Subscript)
        and isinstance(node.ctx, ast.Load)
        and ast.unparse(node.value) == "os.environ"
    )


def test_only_config_reads_the_environment():
    readers = [
        f"{path.relative_to(PACKAGE)}:{node.lineno}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != PACKAGE / "config.py"
        for node in ast.walk(ast.parse(path.read_text()))
        if _reads_environ(node)
    ]
    assert readers == []


def test_blank_is_the_default_and_values_are_stripped():
    env = {"A": "  ", "B": " x "}
    assert config.setting("A", "d", env=env) == "d"
    assert config.setting("B", "d", env=env) == "x"
    assert config.setting("C", env=env) is None
    assert config.integer("A", 7, env=env) == 7


@pytest.mark.parametrize("text", ["1", "true", "Yes", "ON"])
def test_one_set_of_spellings_turns_a_flag_on(text):
    assert config.flag("F", False, env={"F": text}) is True


@pytest.mark.parametrize("text", ["0", "false", "No", "OFF"])
def test_one_set_of_spellings_turns_a_flag_off(text):
    assert config.flag("F", True, env={"F": text}) is False


def test_a_bad_value_names_the_variable():
    with pytest.raises(ConfigError, match=r"F='maybe'; expected one of 1, true"):
        config.flag("F", None, env={"F": "maybe"})
    with pytest.raises(ConfigError, match=r"N='ten' is not a valid int"):
        config.integer("N", 1, env={"N": "ten"})
    with pytest.raises(ConfigError, match=r"X='1,5' is not a valid float"):
        config.number("X", 1.0, env={"X": "1,5"})


def test_the_api_heap_freeze_takes_the_same_spellings(monkeypatch):
    """It used to read only ``0`` as off; ``false`` now turns it off as everywhere else."""
    from candleflow.api import heap

    monkeypatch.setenv(heap.ENV, "false")
    monkeypatch.setattr(heap, "_done", False)
    frozen: list[bool] = []
    monkeypatch.setattr(heap.gc, "freeze", lambda: frozen.append(True))
    heap.settle()
    assert frozen == []
