"""Every command a person runs often is a process of its own: none of them imports torch,
transformers or sentence-transformers (the encoder is ONNX Runtime on the prepared graph)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_start_up_stdio import HEAVY, imported
from tests.stdio import graph_cache_dir

ROOT = Path(__file__).resolve().parent.parent


def run_cli(home: Path, *args: str) -> tuple[str, set[str]]:
    """Run the command in a fresh process; its stdout and the top-level packages it imported."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "HF_HUB_OFFLINE": "1",
        "MEMORY_SERVER_HOME": str(home),
        "MEMORY_SERVER_USER": "alice",
        "MEMORY_SERVER_EMBEDDINGS__CACHE_DIR": graph_cache_dir(),
        "PYTHONPROFILEIMPORTTIME": "1",
    }
    done = subprocess.run(
        [sys.executable, "-m", "memory_server", *args], env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, imported(done.stderr)


@pytest.mark.slow
def test_facts_add_search_export_import_and_doctor_never_import_torch(tmp_path: Path) -> None:
    out, modules = run_cli(tmp_path / "a", "facts", "add", "Keeps a sourdough starter named Clint", "--json")
    assert json.loads(out)["status"] == "created"
    assert "onnxruntime" in modules and modules.isdisjoint(HEAVY), sorted(modules & set(HEAVY))

    out, modules = run_cli(tmp_path / "a", "facts", "search", "bread baking hobby", "--json")
    assert "sourdough" in out
    assert "onnxruntime" in modules and modules.isdisjoint(HEAVY)

    exported = tmp_path / "export.jsonl"
    run_cli(tmp_path / "a", "export", "--out", str(exported))
    _, modules = run_cli(tmp_path / "b", "import", str(exported), "--json")
    assert "onnxruntime" in modules and modules.isdisjoint(HEAVY)
    out, _ = run_cli(tmp_path / "b", "facts", "list", "--json")
    assert [fact["content"] for fact in json.loads(out)] == ["Keeps a sourdough starter named Clint"]

    out, modules = run_cli(tmp_path / "b", "doctor")
    assert "all checks passed" in out and "min cosine" in out
    assert "onnxruntime" in modules and modules.isdisjoint(HEAVY)
