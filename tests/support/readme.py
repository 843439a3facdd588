"""What the README promises, read from the README itself, so tests hold the product to it."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def dag_start_states() -> dict[str, bool]:
    """The README's DAG table: DAG id pattern -> paused on a fresh stack (``ohlcv_<tf>``
    stands for every OHLCV DAG, ``ohlcv_<tf>_history`` for every history DAG)."""
    lines = README.read_text().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| DAG |"))
    columns = [c.strip() for c in lines[header].strip("|").split("|")]
    state = columns.index("A fresh stack")
    states = {}
    for line in lines[header + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        dag = re.match(r"`([^`]+)`", cells[0]).group(1)
        assert cells[state] in ("paused", "running"), line
        states[dag] = cells[state] == "paused"
    return states


def paused_per_readme(dag_id: str, states: dict[str, bool]) -> bool:
    """Whether the README says ``dag_id`` starts paused (KeyError: a DAG it does not list)."""
    if dag_id in states:
        return states[dag_id]
    if dag_id.startswith("ohlcv_") and dag_id.endswith("_history"):
        return states["ohlcv_<tf>_history"]
    if dag_id.startswith("ohlcv_"):
        return states["ohlcv_<tf>"]
    raise KeyError(f"{dag_id} is not in the README's DAG table")


def sql_block(marker: str) -> str:
    """The statement of the README's SQL examples that follows the comment ``-- marker``."""
    text = README.read_text()
    start = text.index(f"-- {marker}\n") + len(f"-- {marker}\n")
    return text[start : text.index(";", start)]
