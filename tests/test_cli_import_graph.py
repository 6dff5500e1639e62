"""`memory-server import` of a knowledge-graph memory.jsonl: values that are not strings become
readable text (never Python reprs), and a bad line either stops the import with nothing
imported (the default) or, with --skip-bad, is skipped and reported by its line number."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from memory_server.cli import main

Run = Callable[..., tuple[int, str, str]]
"""Runs the CLI: (exit code, stdout, stdout and stderr)."""


@pytest.fixture
def run(tmp_path: Path) -> Run:
    runner = CliRunner()

    def invoke(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(main, ["--home", str(tmp_path / "home"), "--user", "alice", *args])
        return result.exit_code, result.stdout, result.output

    return invoke


def graph_file(tmp_path: Path, *lines: str) -> str:
    path = tmp_path / "memory.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def stored(run: Run) -> list[str]:
    code, out, _ = run("facts", "list", "--json")
    assert code == 0, out
    return sorted(fact["content"] for fact in json.loads(out))


def test_observations_that_are_not_strings_become_text_and_nulls_are_reported(run: Run, tmp_path: Path) -> None:
    entity = {
        "type": "entity",
        "name": "Frank",
        "entityType": "person",
        "observations": [42, {"nested": "obj", "n": [1, 2]}, None, "Likes tea", True, "  "],
    }
    code, out, _ = run("import", graph_file(tmp_path, json.dumps(entity)), "--json")
    assert code == 0, out
    report = json.loads(out)
    assert report["counts"]["observation"] == {"created": 4, "merged": 0, "skipped": 2}
    assert "line 1: observation 3 of Frank is null" in report["notes"]
    assert "line 1: observation 6 of Frank is empty" in report["notes"]
    assert stored(run) == sorted(["Frank: 42", 'Frank: {"nested":"obj","n":[1,2]}', "Frank: Likes tea", "Frank: true"])


def test_a_malformed_line_stops_the_import_and_nothing_is_imported(run: Run, tmp_path: Path) -> None:
    good = json.dumps({"type": "entity", "name": "Ann", "entityType": "person", "observations": ["Runs daily"]})
    path = graph_file(tmp_path, good, '{"type": "entity", "name": "Bo"', good.replace("Ann", "Cy"))
    code, _, out = run("import", path)
    assert code == 1
    assert "line 2 is not JSON" in out and "Nothing was imported" in out and "--skip-bad" in out
    assert stored(run) == []


def test_skip_bad_imports_the_good_lines_and_names_the_bad_ones(run: Run, tmp_path: Path) -> None:
    good = json.dumps({"type": "entity", "name": "Ann", "entityType": "person", "observations": ["Runs daily"]})
    relation = json.dumps({"type": "relation", "from": "Ann", "relationType": "knows", "to": 7})
    path = graph_file(tmp_path, good, '{"type": "entity", "name": "Bo"', "[1, 2]", relation)
    code, out, _ = run("import", path, "--skip-bad", "--json")
    assert code == 0, out
    report = json.loads(out)
    assert report["bad_lines"] == [2, 3]
    assert any(note.startswith("line 3 is not a JSON object") for note in report["notes"])
    assert stored(run) == ["Ann knows 7", "Ann: Runs daily"]
