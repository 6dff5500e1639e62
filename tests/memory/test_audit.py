"""The audit log: every mutation and every served fact leaves a chained row of ids and hashes
(never content), written in the mutation's own transaction; `verify` finds any alteration."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from memory_server.app import Memory, open_memory
from memory_server.cli import main as cli
from memory_server.clock import ManualClock
from memory_server.config import Settings
from memory_server.embeddings import FakeEncoder, ReadyEmbedder
from memory_server.errors import NotFoundError
from memory_server.memory.audit import AuditService
from memory_server.memory.checkpoints import NewCheckpoint
from memory_server.memory.facts import NewFact, SearchRequest
from memory_server.memory.sessions import NewMessage
from memory_server.memory.tool_calls import NewToolCall
from memory_server.store import connection
from memory_server.store.database import resolve_key
from tests.conftest import make_settings

SECRETS = (
    "Lives on Rua das Flores 12 in Porto",
    "Lives on Avenida da Liberdade 3 in Lisbon",
    "My cat is called Pimenta",
    "Planning the Azores trip",
    "They planned a trip to the Azores islands",
    "secret-plan.txt",
    "TOP SECRET tool output",
    "Drafting the quarterly review",
)


async def audit_rows(memory: Memory) -> list[tuple[Any, ...]]:
    async with memory.db.read() as conn:
        return await memory.db.fetchall(conn, "SELECT * FROM audit_log ORDER BY id")


async def actions(memory: Memory, user_id: str | None = "alice") -> list[str]:
    return [entry.action for entry in reversed(await AuditService(memory.db).entries(user_id, limit=1_000))]


def raw(settings: Settings) -> Any:
    """A direct SQL connection to the file, as someone with the key (not through the server)."""
    return connection.connect(settings.database_path, resolve_key(settings))


async def exercise_every_layer(memory: Memory, clock: ManualClock) -> dict[str, Any]:
    porto = await memory.facts.remember("alice", NewFact(SECRETS[0]))
    await memory.facts.remember("alice", NewFact(SECRETS[0]))  # restated: merged
    lisbon = await memory.facts.remember("alice", NewFact(SECRETS[1], ttl_days=1, supersedes=porto.fact_id))
    cat = await memory.facts.remember("alice", NewFact(SECRETS[2]))
    await memory.facts.search("alice", SearchRequest(query="cat"))
    started = await memory.sessions.append(
        "alice",
        [NewMessage("user", SECRETS[3]), NewMessage("assistant", "Sure."), NewMessage("user", "Go on.")],
    )
    session_id = started.session_id
    await memory.context.build("alice", session_id=session_id)
    await memory.sessions.summarize("alice", session_id, summary=SECRETS[4], keep_recent=1)
    saved = await memory.checkpoints.save(
        "alice", NewCheckpoint(thread_id="review-123", state={"doing": SECRETS[7]}, session_id=session_id)
    )
    await memory.checkpoints.restore("alice", "review-123")
    await memory.tool_calls.record(
        "alice", NewToolCall(session_id, "read_file", input={"path": SECRETS[5]}, output=SECRETS[6])
    )
    await memory.facts.forget("alice", fact_id=cat.fact_id)
    clock.advance(days=31)
    await memory.sweep()
    return {"lisbon": lisbon.fact_id, "porto": porto.fact_id, "cat": cat.fact_id, "session": session_id, **vars(saved)}


async def test_every_kind_of_change_and_every_served_fact_is_audited(memory: Memory, clock: ManualClock) -> None:
    ids = await exercise_every_layer(memory, clock)

    assert await actions(memory) == [
        "fact.created",
        "fact.merged",
        "fact.created",
        "fact.superseded",
        "fact.created",
        "facts.served",
        "session.created",
        "facts.served",
        "session.compacted",
        "checkpoint.saved",
        "checkpoint.restored",
        "tool_call.recorded",
        "fact.forgotten",
        "fact.expired",
        "checkpoint.expired",
        "session.expired",
    ]
    entries = {entry.action: entry for entry in await AuditService(memory.db).entries("alice", limit=100)}
    assert entries["fact.superseded"].ids == [ids["porto"]]
    assert entries["fact.superseded"].detail == {"superseded_by": ids["lisbon"]}
    assert entries["fact.forgotten"].ids == [ids["cat"]]
    assert entries["fact.expired"].ids == [ids["lisbon"]]
    assert entries["session.expired"].ids == [ids["session"]]
    assert entries["checkpoint.saved"].ids == [ids["checkpoint_id"]]
    assert entries["checkpoint.saved"].detail["state_sha256"] == ids["hash"]
    context_served = [
        e for e in await AuditService(memory.db).entries("alice", limit=100) if e.action == "facts.served"
    ]
    assert [(e.session_id, e.detail["via"]) for e in context_served] == [
        (ids["session"], "get_user_context"),
        (None, "search_facts"),
    ]
    assert ids["cat"] in context_served[1].ids
    assert (await AuditService(memory.db).verify()).ok


async def test_no_text_of_erased_content_survives_in_the_audit(memory: Memory, clock: ManualClock) -> None:
    await exercise_every_layer(memory, clock)
    dump = json.dumps(await audit_rows(memory), ensure_ascii=False)

    assert len(await audit_rows(memory)) >= 16
    for secret in SECRETS:
        assert secret not in dump
        assert secret.lower() not in dump.lower()


async def test_a_change_that_fails_leaves_no_audit_row(memory: Memory) -> None:
    await memory.facts.remember("alice", NewFact("Prefers tea"))
    before = await audit_rows(memory)

    with pytest.raises(NotFoundError):
        await memory.facts.remember("alice", NewFact("Prefers coffee", supersedes=9_999))
    with pytest.raises(NotFoundError):
        await memory.tool_calls.record("alice", NewToolCall("ses_" + "A" * 22, "read_file"))

    assert await audit_rows(memory) == before


async def test_each_user_sees_only_their_own_audit_rows(memory: Memory) -> None:
    await memory.facts.remember("alice", NewFact("Prefers tea"))
    await memory.facts.remember("bob", NewFact("Prefers coffee"))

    assert [e.user_id for e in await AuditService(memory.db).entries("alice")] == ["alice"]
    assert [e.user_id for e in await AuditService(memory.db).entries("bob")] == ["bob"]
    assert len(await AuditService(memory.db).entries(None)) == 2


async def test_the_log_is_append_only_for_sql_that_leaves_the_triggers_in_place(
    memory: Memory, settings: Settings
) -> None:
    await memory.facts.remember("alice", NewFact("Prefers tea"))
    conn = raw(settings)
    try:
        for statement in ("UPDATE audit_log SET ids = '[]'", "DELETE FROM audit_log"):
            with pytest.raises(connection.DriverError, match="append-only"):
                conn.execute(statement)
    finally:
        conn.close()
    assert (await AuditService(memory.db).verify()).ok


async def tampered(memory: Memory, settings: Settings, *statements: str) -> list[str]:
    for index in range(5):
        await memory.facts.remember("alice", NewFact(f"Fact number {index} about topic {index * 7}"))
    assert (await AuditService(memory.db).verify()).ok
    conn = raw(settings)
    try:
        conn.execute("DROP TRIGGER audit_log_no_update")
        conn.execute("DROP TRIGGER audit_log_no_delete")
        for statement in statements:
            conn.execute(statement)
    finally:
        conn.close()
    report = await AuditService(memory.db).verify()
    assert not report.ok
    return report.problems


async def test_verify_reports_a_row_edited_through_a_direct_connection(memory: Memory, settings: Settings) -> None:
    problems = await tampered(memory, settings, "UPDATE audit_log SET ids = '[42]' WHERE id = 3")
    assert any(p.startswith("row 3: its fields do not match its hash") for p in problems)


async def test_verify_reports_a_row_deleted_through_a_direct_connection(memory: Memory, settings: Settings) -> None:
    problems = await tampered(memory, settings, "DELETE FROM audit_log WHERE id = 3")
    assert any(p.startswith("row 4: does not link to the row before it") for p in problems)


async def test_verify_reports_the_end_of_the_log_deleted(memory: Memory, settings: Settings) -> None:
    problems = await tampered(memory, settings, "DELETE FROM audit_log WHERE id >= 4")
    assert any("rows 4 to 5 were issued but are missing" in p for p in problems)


async def test_verify_reports_rows_swapped_with_their_hashes(memory: Memory, settings: Settings) -> None:
    swap = (
        "UPDATE audit_log SET ids = (SELECT ids FROM audit_log WHERE id = 4), "
        "hash = (SELECT hash FROM audit_log WHERE id = 4), prev_hash = (SELECT prev_hash FROM audit_log WHERE id = 4) "
        "WHERE id = 2"
    )
    problems = await tampered(memory, settings, swap)
    assert any(p.startswith("row 2:") for p in problems)


async def test_two_connections_writing_at_once_keep_one_linear_chain(settings: Settings, clock: ManualClock) -> None:
    async with (
        open_memory(settings, embedder=ReadyEmbedder(FakeEncoder()), clock=clock) as first,
        open_memory(settings, embedder=ReadyEmbedder(FakeEncoder()), clock=clock) as second,
    ):

        async def writer(memory: Memory, name: str) -> None:
            for index in range(15):
                await memory.facts.remember("alice", NewFact(f"{name} wrote fact {index}: item {index * 13}"))

        await asyncio.gather(writer(first, "first"), writer(second, "second"))
        report = await AuditService(first.db).verify()

    assert report.ok, report.problems
    assert report.rows == 30


def test_the_cli_verifies_the_chain_and_exits_1_when_it_was_altered(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)

    async def seed() -> None:
        async with open_memory(settings, embedder=ReadyEmbedder(FakeEncoder())) as memory:
            await memory.facts.remember(memory.user_id, NewFact("Prefers tea"))
            await memory.facts.remember(memory.user_id, NewFact("Works from Porto"))

    asyncio.run(seed())
    runner = CliRunner()
    flags = ["--home", str(tmp_path), "--user", "alice"]
    verified = runner.invoke(cli, [*flags, "audit", "verify"])
    assert verified.exit_code == 0, verified.output
    assert verified.output.startswith("ok: 2 audit rows")
    listed = runner.invoke(cli, [*flags, "audit", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    assert [entry["action"] for entry in json.loads(listed.output)] == ["fact.created", "fact.created"]

    conn = raw(settings)
    conn.execute("DROP TRIGGER audit_log_no_update")
    conn.execute("UPDATE audit_log SET at = at + 1 WHERE id = 1")
    conn.close()
    broken = runner.invoke(cli, [*flags, "audit", "verify"])
    assert broken.exit_code == 1
    assert "row 1: its fields do not match its hash" in broken.output
    assert "append-only triggers audit_log_no_update were dropped" in broken.output


async def test_facts_served_through_the_tools_show_in_the_audit_resource(
    settings: Settings, clock: ManualClock
) -> None:
    from tests.stdio import call
    from tests.tools.test_run_state_tools import connect, read_json

    async with connect(settings, clock) as client:
        tea = await call(client, "remember_fact", content="Drinks green tea every morning")
        started = await call(client, "append_messages", messages=[{"role": "user", "content": "hello"}])
        await call(client, "search_facts", query="green tea")
        await call(client, "get_user_context", session_id=started["session_id"])
        entries = await read_json(client, "memory://audit")

    served = [(e["session_id"], e["detail"]["via"], e["ids"]) for e in entries if e["action"] == "facts.served"]
    assert served == [
        (started["session_id"], "get_user_context", [tea["fact_id"]]),
        (None, "search_facts", [tea["fact_id"]]),
    ]
    assert [e["action"] for e in entries][-2:] == ["session.created", "fact.created"]
