"""Every benchmark script imports: ``make bench`` is not part of ``make test``, so a module a
benchmark imports can be renamed under it unnoticed (``bench_adjust_read`` imported
``candleflow.db.upsert`` for a round after that module was folded into ``db.bars``)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
SCRIPTS = sorted(p.stem for p in BENCHMARKS.glob("*.py"))


@pytest.fixture(scope="module", autouse=True)
def _benchmarks_on_path():
    sys.path.insert(0, str(BENCHMARKS))
    yield
    sys.path.remove(str(BENCHMARKS))


def test_every_script_of_run_all_exists():
    run_all = importlib.import_module("run_all")
    assert {f"bench_{name}" for name in run_all.SCRIPTS} <= set(SCRIPTS)


@pytest.mark.parametrize("name", SCRIPTS)
def test_the_script_imports(name):
    module = importlib.import_module(name)
    assert module.__doc__, f"benchmarks/{name}.py says what it measures and why"
