"""The package's layers, exactly as docs/architecture.md's table states them, and no cycle.

The table ("Rules the layout enforces") is read from the document, so the test and the
document cannot drift apart: a new permission is a new line in the document. The source is
read with ``ast`` (nothing is imported), so a new upward import fails here before it becomes a
cycle or drags Airflow or the read side into the command side.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "include" / "candleflow"
VOCABULARY = ("domain", "adjustments", "calendars", "errors", "config", "retry", "watchlist")
VOCABULARY += ("dag_specs", "output", "frames", "symbols")
# What the wheel ships in place of a DAG folder and a plugins folder: the DAG definitions and
# the plugin wire every layer together, as DAG files do (the table's `wiring` row).
WIRING = ("airflow/dags/", "airflow/plugin.py")


def table() -> dict[str, tuple[set[str], bool]]:
    """layer -> (the layers it may import, whether it imports Airflow), from the document."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("## Rules the layout enforces", 1)[1]
    rows: dict[str, tuple[set[str], bool]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[2] not in ("yes", "no"):
            continue
        name = cells[0].strip("`").rstrip("/")
        rows[name] = (set(re.findall(r"`(\w+)/`", cells[1])), cells[2] == "yes")
    return rows


LAYERS = table()


def _is_type_checking(node: ast.If) -> bool:
    return ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")


def _imports(path: Path, modules: set[str] | frozenset[str] = frozenset()) -> set[str]:
    """Modules imported where the code runs (``if TYPE_CHECKING:`` bodies never do).

    ``from a import b`` names ``a.b``, and ``a`` too unless ``a.b`` is one of ``modules``
    (importing a submodule runs its package's ``__init__``, which is no edge of its own).
    """
    names: set[str] = set()
    stack: list[ast.AST] = [ast.parse(path.read_text())]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            full = {f"{node.module}.{alias.name}" for alias in node.names}
            names |= full
            if not full <= modules:
                names.add(node.module)
        stack.extend(ast.iter_child_nodes(node))
    return names


def _layer(path: Path) -> str:
    if str(path.relative_to(PACKAGE)).startswith(WIRING):
        return "wiring"
    first = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
    return "vocabulary" if first in VOCABULARY else first


def _modules() -> list[Path]:
    return sorted(
        p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE
    )


def test_the_table_names_every_layer_of_the_package():
    found = {_layer(p) for p in _modules()}
    assert found == set(LAYERS)


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_no_module_imports_a_layer_its_row_does_not_name(layer: str) -> None:
    allowed = LAYERS[layer][0] | {layer, *VOCABULARY}
    upward = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in _modules()
        if _layer(path) == layer
        for name in _imports(path)
        if name.startswith("candleflow.") and name.split(".")[1] not in allowed
    ]
    if layer == "vocabulary":  # the vocabulary imports no layer at all
        upward = [u for u in upward if u.split(" imports ")[1].split(".")[1] not in VOCABULARY]
    assert upward == []


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_only_the_rows_marked_so_import_airflow(layer: str) -> None:
    found = sorted(
        {
            f"{path.relative_to(PACKAGE)} imports {name}"
            for path in _modules()
            if _layer(path) == layer
            for name in _imports(path)
            if name.split(".")[0] == "airflow"
        }
    )
    assert bool(found) <= LAYERS[layer][1], found


def _graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports (``from a import b``: ``a.b`` if a module)."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path

    def module_of(name: str) -> str | None:
        parts = name.split(".")
        while parts and ".".join(parts) not in modules:
            parts.pop()
        return ".".join(parts) or None

    return {
        name: {m for i in _imports(path, set(modules)) if (m := module_of(i)) and m != name}
        for name, path in modules.items()
    }


def test_the_import_graph_inside_the_package_has_no_cycle():
    graph, done, cycles = _graph(), set(), []

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            cycles.append(" -> ".join([*path[path.index(node) :], node]))
            return
        if node in done:
            return
        for nxt in sorted(graph[node]):
            visit(nxt, [*path, node])
        done.add(node)

    for node in sorted(graph):
        visit(node, [])
    assert cycles == []
