"""The CLI acts on the same domain code as the tools: add, search, list, forget, doctor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from memory_server.cli import main


@pytest.fixture
def run(tmp_path: Path):  # type: ignore[no-untyped-def]
    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
        result = runner.invoke(
            main, ["--home", str(tmp_path), "--user", "alice", *args], env={"HF_HUB_OFFLINE": "1", **(env or {})}
        )
        return result.exit_code, result.output

    return invoke


def test_facts_added_on_the_command_line_are_listed_searched_and_forgotten(run) -> None:  # type: ignore[no-untyped-def]
    code, out = run("facts", "add", "Keeps a sourdough starter named Clint", "--importance", "0.8", "--json")
    assert code == 0, out
    fact_id = json.loads(out)["fact_id"]
    assert run("facts", "add", "Cycles to work when it is dry", "--category", "habit")[0] == 0

    code, out = run("facts", "list", "--json")
    assert code == 0
    assert [fact["content"] for fact in json.loads(out)] == [
        "Keeps a sourdough starter named Clint",
        "Cycles to work when it is dry",
    ]

    code, out = run("facts", "search", "bread baking hobby", "--json")
    assert code == 0
    assert json.loads(out)["hits"][0]["fact"]["id"] == fact_id

    code, out = run("facts", "forget", str(fact_id))
    assert (code, out.strip()) == (0, f"erased 1 fact(s): {fact_id}")
    assert "sourdough" not in run("facts", "list", "--json")[1]


def test_an_error_of_the_domain_is_one_readable_line_and_exit_code_1(run) -> None:  # type: ignore[no-untyped-def]
    code, out = run("facts", "forget", "999")
    assert code == 1
    assert "No fact with id 999" in out


def test_doctor_reports_every_check_and_fails_on_a_wrong_passphrase(run) -> None:  # type: ignore[no-untyped-def]
    code, out = run("doctor", env={"MEMORY_SERVER_PASSPHRASE": "first"})
    assert code == 0, out
    for check in ("config", "key", "database", "encryption", "sqlite-vec", "fts5", "schema", "model"):
        assert f"ok   {check}" in out or f"ok  {check}" in out, check
    code, out = run("doctor", env={"MEMORY_SERVER_PASSPHRASE": "second"})
    assert code == 1
    assert "FAIL database" in out and "does not match" in out
