"""The layers of DESIGN.md hold: no adapter imports services/; text/ imports only domain/
(and the domain's errors)."""

from __future__ import annotations

import ast
from pathlib import Path

import docquery

SRC = Path(docquery.__file__).parent
# search_feed.py still calls services/reindex.py: it moves with the search rewrite.
PENDING = {"adapters/aws/search_feed.py"}


def imported(path: Path) -> set[str]:
    """The docquery modules a source file imports."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if name.startswith("docquery")}


def sources(folder: str) -> list[Path]:
    return sorted((SRC / folder).rglob("*.py"))


def test_no_adapter_imports_services() -> None:
    offenders = {
        str(path.relative_to(SRC)): sorted(m for m in imported(path) if "docquery.services" in m)
        for path in sources("adapters")
        if str(path.relative_to(SRC)) not in PENDING
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_text_imports_only_domain_and_text() -> None:
    allowed = ("docquery.domain", "docquery.text", "docquery.errors")
    offenders = {
        str(path.relative_to(SRC)): sorted(m for m in imported(path) if not m.startswith(allowed))
        for path in sources("text")
    }
    assert {name: found for name, found in offenders.items() if found} == {}
    assert len(offenders) >= 5  # the walk found the package
