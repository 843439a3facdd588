"""The package's layers (docs/architecture.md): no module imports from a layer above it.

Read from the source with ``ast`` (nothing is imported), so a new upward import fails here
before it becomes a cycle or drags Airflow or the read side into the command side.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "include" / "candleflow"

# Each layer may import itself and the layers listed for it (and the base vocabulary).
BASE = {
    "domain",
    "adjustments",
    "calendars",
    "errors",
    "config",
    "retry",
    "assets",
    "watchlist",
    "output",
}
ALLOWED: dict[str, set[str]] = {
    "db": set(),
    "providers": set(),
    "validation": {"db"},
    "managers": {"db", "validation"},
    "services": {"db", "validation", "providers", "managers"},
    "query": {"db"},
    "airflow": {"db", "validation", "providers", "managers", "services"},
    # Front doors may ask the Airflow layer for the warehouse (airflow/connections: the one
    # policy, which imports Airflow only when a connection could exist).
    "api": {"db", "query", "airflow"},
    "cli": {"db", "validation", "providers", "managers", "services", "query", "stack", "testing"}
    | {"airflow"},
}
# The Airflow-aware part is candleflow.airflow (and api/, mounted by the plugin): nothing below.
NO_AIRFLOW = ("db", "providers", "validation", "managers", "services", "query", "domain")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            if node.module == "candleflow":
                names.update(f"candleflow.{alias.name}" for alias in node.names)
    return names


def _modules(layer: str) -> list[Path]:
    root = PACKAGE / layer
    return sorted(root.rglob("*.py")) if root.is_dir() else [PACKAGE / f"{layer}.py"]


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_no_module_imports_from_a_layer_above_it(layer: str) -> None:
    allowed = ALLOWED[layer] | BASE | {layer, "__init__"}
    upward = []
    for path in _modules(layer):
        for name in _imports(path):
            parts = name.split(".")
            if parts[0] == "candleflow" and len(parts) > 1 and parts[1] not in allowed:
                upward.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert upward == []


@pytest.mark.parametrize("layer", NO_AIRFLOW)
def test_only_the_airflow_layer_imports_airflow(layer: str) -> None:
    found = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in _modules(layer)
        for name in _imports(path)
        if name.split(".")[0] == "airflow"
    ]
    assert found == []
