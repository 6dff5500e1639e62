"""The domain and the store know nothing of MCP, so a CLI, another transport or another
backend can use them unchanged."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "memory_server"
MCP_FREE = ["memory", "store", "app.py", "config.py", "embeddings", "errors.py", "clock.py"]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("part", MCP_FREE)
def test_the_domain_and_store_import_nothing_from_mcp(part: str) -> None:
    target = PACKAGE / part
    files = sorted(target.rglob("*.py")) if target.is_dir() else [target]
    assert files
    offenders = {
        str(f.relative_to(PACKAGE)): sorted(m for m in imported_modules(f) if m == "mcp" or m.startswith("mcp."))
        for f in files
    }
    assert {name: mods for name, mods in offenders.items() if mods} == {}


def test_the_check_sees_an_mcp_import_when_there_is_one(tmp_path: Path) -> None:
    module = tmp_path / "x.py"
    module.write_text("from mcp.server.mcpserver import MCPServer\nimport json\n")
    assert "mcp.server.mcpserver" in imported_modules(module)
