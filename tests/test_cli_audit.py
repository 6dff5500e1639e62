"""`audit verify` and a cut end: the chain alone cannot show it, a head kept elsewhere can."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner

from memory_server.app import open_memory
from memory_server.cli import main as cli
from memory_server.embeddings import FakeEncoder, ReadyEmbedder
from memory_server.memory.facts import NewFact
from memory_server.store.migrations import MIGRATIONS
from tests.conftest import make_settings
from tests.memory.test_audit import raw

TRIGGERS = [
    statement
    for migration in MIGRATIONS
    if migration.name == "004_audit"
    for statement in migration.statements(None)  # type: ignore[arg-type]
    if statement.startswith("CREATE TRIGGER")
]


def seeded(tmp_path: Path, facts: int) -> list[str]:
    settings = make_settings(tmp_path)

    async def seed() -> None:
        async with open_memory(settings, embedder=ReadyEmbedder(FakeEncoder())) as memory:
            for index in range(facts):
                await memory.facts.remember(memory.user_id, NewFact(f"Fact {index}: item {index * 11}"))

    asyncio.run(seed())
    return ["--home", str(tmp_path), "--user", "alice"]


def cut_end(tmp_path: Path, keep: int) -> None:
    """What someone with the key can do: drop the triggers, delete the last rows, reset the id
    counter, put the triggers back."""
    conn = raw(make_settings(tmp_path))
    try:
        conn.execute("DROP TRIGGER audit_log_no_update")
        conn.execute("DROP TRIGGER audit_log_no_delete")
        conn.execute("DELETE FROM audit_log WHERE id > ?", (keep,))
        conn.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'audit_log'", (keep,))
        for statement in TRIGGERS:
            conn.execute(statement)
        conn.commit()
    finally:
        conn.close()


@pytest.mark.parametrize("keep", [3, 0], ids=["last-rows-cut", "every-row-deleted"])
def test_a_cut_end_passes_the_chain_check_but_fails_against_the_head_kept(tmp_path: Path, keep: int) -> None:
    flags = seeded(tmp_path, facts=5)
    runner = CliRunner()
    head = runner.invoke(cli, [*flags, "audit", "head"])
    assert head.exit_code == 0, head.output
    kept = head.output.split()[0]
    assert len(kept) == 64 and "(row 5)" in head.output
    before = runner.invoke(cli, [*flags, "audit", "verify", "--expect-head", kept])
    assert before.exit_code == 0 and "including the head you kept" in before.output, before.output

    cut_end(tmp_path, keep)

    # What the chain alone can prove: the README says so; this is that limit.
    assert runner.invoke(cli, [*flags, "audit", "verify"]).exit_code == 0
    anchored = runner.invoke(cli, [*flags, "audit", "verify", "--expect-head", kept])
    assert anchored.exit_code == 1
    assert f"the head you kept ({kept}) is not in the log" in anchored.output


def test_a_head_kept_earlier_still_verifies_after_more_rows_are_written(tmp_path: Path) -> None:
    flags = seeded(tmp_path, facts=2)
    runner = CliRunner()
    kept = runner.invoke(cli, [*flags, "audit", "head"]).output.split()[0]
    seeded(tmp_path, facts=3)
    later = runner.invoke(cli, [*flags, "audit", "verify", "--expect-head", kept])
    assert later.exit_code == 0, later.output
    assert later.output.startswith("ok: 5 audit rows")


def test_audit_head_of_an_empty_log_says_so(tmp_path: Path) -> None:
    flags = seeded(tmp_path, facts=0)
    assert CliRunner().invoke(cli, [*flags, "audit", "head"]).output.strip() == "(no audit rows)"
