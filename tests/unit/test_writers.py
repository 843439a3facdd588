"""One writer per table, in ``db/`` (docs/architecture.md): no SQL statement outside ``db/``
inserts, updates or deletes a warehouse table.

Read from the source with ``ast``: every string constant that starts a statement is checked,
so a service that grows its own ``INSERT`` fails here; its policy stays in the service and the
statement moves to the table's writer in ``db/``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "include" / "candleflow"
WRITE = re.compile(
    r"^\s*(?:WITH\b.*?\)\s*)?(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM|TRUNCATE)\s+"
    r"(?:candleflow|analytics)\.(\w+)",
    re.I | re.S,
)


def writes(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = WRITE.match(node.value)
            if match:
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} writes {match[1]}")
    return found


def test_only_db_modules_write_warehouse_tables():
    outside = [
        line
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.relative_to(PACKAGE).parts[0] not in ("db", "testing")
        for line in writes(path)
    ]
    assert outside == []


def test_the_check_finds_a_write():
    """The pattern matches the statements the writers use (else the test above proves nothing)."""
    found = [line for path in sorted((PACKAGE / "db").glob("*.py")) for line in writes(path)]
    tables = {line.rsplit(" ", 1)[1] for line in found}
    assert {"instruments", "freshness_checks", "health_checks"} <= tables
