"""Docs and docstrings speak to users about the product, never about how it was built.

No file a user reads (README, docs, the package, DAGs, plugins, tests, benchmarks) cites an
issue number, says who merges what, or points at a document that is not in the repository.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("docs", "include", "dags", "plugins", "tests", "benchmarks", "docker")
FILES = ("README.md", "Makefile", ".env.example", "docker-compose.yaml")
SUFFIXES = {".py", ".md", ".sql", ".toml", ".yaml", ".yml", ".js", ".html", ".css", ".txt"}
SKIP = {
    # applied migrations are checksummed by `candleflow db migrate`: never edited
    "include/candleflow/db/migrations/0001_warehouse.sql",
    "tests/unit/test_docs_speak_to_users.py",  # the patterns themselves
}
VENDORED = ("include/candleflow/api/static/swagger/",)

FORBIDDEN = {
    "an issue number": re.compile(r"\(issue|\bissues? #?\d", re.IGNORECASE),
    "who merges what": re.compile(r"to be merged|by the lead\b|for the README", re.IGNORECASE),
    "a document outside the repository": re.compile(
        r"TRADINGVIEW_PROTOCOL|DESIGN\.md|\bDESIGN, |protocol notes|STYLE\.md|ADJUSTMENTS\.md"
    ),
}


def _read_by_users() -> list[Path]:
    paths = [ROOT / name for name in FILES if (ROOT / name).exists()]
    for folder in FOLDERS:
        paths += [p for p in (ROOT / folder).rglob("*") if p.suffix in SUFFIXES and p.is_file()]
    keep = []
    for path in paths:
        rel = path.relative_to(ROOT).as_posix()
        if rel in SKIP or rel.startswith(VENDORED) or "__pycache__" in rel:
            continue
        keep.append(path)
    return keep


def test_no_doc_or_docstring_talks_about_how_the_product_was_built():
    found = []
    paths = _read_by_users()
    assert len(paths) > 100  # the walk found the repository
    for path in paths:
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            for what, pattern in FORBIDDEN.items():
                if pattern.search(line):
                    rel = path.relative_to(ROOT).as_posix()
                    found.append(f"{rel}:{number}: {what}: {line.strip()[:100]}")
    assert found == [], "\n".join(found)
