import asyncio
import io
import json
import random
import stat
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from memory_server import embeddings
from memory_server.app import Memory, open_memory
from memory_server.cli import main
from memory_server.clock import ManualClock
from memory_server.embeddings import FakeEncoder, ReadyEmbedder
from memory_server.memory import text
from memory_server.memory.checkpoints import NewCheckpoint
from memory_server.memory.sealed import is_sealed
from memory_server.memory.sessions import NewMessage
from memory_server.memory.tool_calls import NewToolCall
from memory_server.memory.transfer import FORMAT, TransferError, export, import_lines, read_lines
from memory_server.store import facts as rows
from tests.conftest import make_settings

WORDS = (
    "amber basil cedar delta ember falcon garnet harbor indigo jasper kelp lantern meadow nectar orchid pepper "
    "quartz raven saffron thistle umber violet willow yarrow zephyr anchor bramble cobalt dune fern glacier hazel "
    "iris juniper kestrel lagoon marble nutmeg opal pine quill reed sage tulip usher vessel wren yew zinc atlas "
    "beacon canyon dahlia estuary fjord grove heron island jetty knoll ledge mesa nook oasis prairie quarry ridge"
).split()


async def fill(memory: Memory, facts: int = 1_000, sessions: int = 10, checkpoints: int = 20) -> None:
    """A store with every kind of content, facts written in one transaction (the fast path)."""
    clock: Any = memory.db.clock
    rng = random.Random(7)
    contents = [f"{' '.join(rng.sample(WORDS, 6))} item{i}" for i in range(facts)]
    vectors = FakeEncoder().encode(contents)
    ids: list[int] = []
    async with memory.db.write() as conn:
        for i, (content, vector) in enumerate(zip(contents, vectors, strict=True)):
            ids.append(
                await rows.insert_fact(
                    conn,
                    user_id="alice",
                    content=content,
                    key=text.content_key(content),
                    category=("preference", "profile", None)[i % 3],
                    tags=[f"t{i % 5}", "ü-tag"] if i % 2 else [],
                    importance=(i % 10) / 10,
                    now=clock() - 86_400 + i,
                    expires_at=clock() + 86_400 * (1 + i % 30) if i % 7 == 0 else None,
                    supersedes=None,
                    source_session="ses_" + "s" * 22 if i % 11 == 0 else None,
                    vector=vector,
                )
            )
        for old, new in zip(ids[0:60:2], ids[1:60:2], strict=False):
            await rows.mark_superseded(conn, old, new, clock())
        await rows.touch(conn, "alice", ids[100:200], clock())
    session_ids = []
    for s in range(sessions):
        clock.advance(seconds=10)
        turns = [NewMessage(role="system", content=f"You help with task {s}.")]
        turns += [NewMessage(role=("user", "assistant")[i % 2], content=f"turn {i} of {s} ✓") for i in range(12)]
        appended = await memory.sessions.append("alice", turns, agent_name=f"agent-{s}")
        session_ids.append(appended.session_id)
        if s % 2 == 0:
            await memory.sessions.summarize("alice", appended.session_id, summary=f"Summary {s}.", keep_recent=4)
        await memory.tool_calls.record(
            "alice", NewToolCall(session_id=appended.session_id, tool_name="grep", input={"q": s}, output="x" * 50)
        )
    for c in range(checkpoints):
        clock.advance(seconds=1)
        await memory.checkpoints.save(
            "alice",
            NewCheckpoint(
                thread_id=f"thread-{c % 4}",
                state={"done": list(range(c)), "note": f"step {c} ü", "ratio": c / 3},
                label=f"cp {c}" if c % 2 else None,
                session_id=session_ids[c % sessions] if sessions else None,
            ),
        )


async def content(memory: Memory) -> dict[str, Any]:
    """Everything a user would call the memory's content, independent of fact ids."""
    async with memory.db.read() as conn:

        async def q(sql: str) -> list[tuple[Any, ...]]:
            return sorted(await memory.db.fetchall(conn, sql), key=repr)

        return {
            "facts": await q(
                "SELECT f.content, f.category, f.tags, f.importance, f.created_at, f.updated_at, f.last_accessed_at, "
                "f.access_count, f.expires_at, f.source_session, o.content, n.content FROM facts f "
                "LEFT JOIN facts o ON o.id = f.supersedes LEFT JOIN facts n ON n.id = f.superseded_by"
            ),
            "sessions": await q("SELECT * FROM sessions"),
            "messages": await q(
                "SELECT session_id, user_id, seq, role, name, content, tokens, cost_usd, created_at, compacted "
                "FROM messages"
            ),
            "summaries": await q(
                "SELECT session_id, user_id, content, covers_through_seq, source, tokens, created_at FROM summaries"
            ),
            "checkpoints": await q("SELECT * FROM checkpoints"),
            "tool_calls": await q(
                "SELECT session_id, tool_name, status, input, input_length, input_hash, output, output_length, "
                "output_hash, duration_ms, tokens, cost_usd, created_at FROM tool_calls"
            ),
            "vectors": (await memory.db.fetchall(conn, "SELECT count(*) FROM fact_vectors"))[0][0],
        }


@pytest.fixture
async def other(tmp_path: Path, clock: ManualClock) -> AsyncIterator[Memory]:
    """A second, empty memory in another folder (the import target)."""
    async with open_memory(make_settings(tmp_path / "other"), embedder=ReadyEmbedder(FakeEncoder()), clock=clock) as m:
        yield m


async def exported(memory: Memory, **options: Any) -> list[str]:
    out = io.BytesIO()
    await export(memory, out, **options)
    return out.getvalue().decode().splitlines()


async def test_an_export_imported_into_a_fresh_database_has_equal_content(memory: Memory, other: Memory) -> None:
    await fill(memory)
    lines = await exported(memory)
    progress: list[tuple[int, int | None]] = []

    report = await import_lines(other, lines, batch=300, progress=lambda done, total: progress.append((done, total)))

    before, after = await content(memory), await content(other)
    assert after == before
    assert len(before["facts"]) == 1_000 and len(before["checkpoints"]) == 20 and len(before["sessions"]) == 10
    assert sum(1 for fact in before["facts"] if fact[10] is not None) == 30  # supersedes links survived
    assert after["vectors"] == 1_000  # re-embedded
    counts = report.counts
    assert (counts["fact"].created, counts["fact"].merged, counts["fact"].skipped) == (1_000, 0, 0)
    assert (counts["session"].created, counts["checkpoint"].created) == (10, 20)
    assert counts["message"].created == 130 and counts["summary"].created == 5 and counts["tool_call"].created == 10
    assert progress[-1][0] == progress[-1][1] == len(lines) - 1
    assert [done for done, _ in progress] == sorted(done for done, _ in progress)


async def test_the_header_names_format_model_and_counts(memory: Memory) -> None:
    await fill(memory, facts=3, sessions=1, checkpoints=2)
    header = json.loads((await exported(memory))[0])
    assert header["type"] == "header" and header["format"] == FORMAT and header["version"] == 1
    assert header["model"] == {"id": "all-MiniLM-L6-v2", "dimension": 384}
    assert header["counts"] == {
        "fact": 3,
        "session": 1,
        "message": 13,
        "summary": 1,
        "checkpoint": 2,
        "tool_call": 1,
    }
    assert header["exported_at"].endswith("Z")


async def test_importing_the_same_export_again_merges_facts_and_skips_the_rest(memory: Memory, other: Memory) -> None:
    await fill(memory, facts=40, sessions=2, checkpoints=4)
    lines = await exported(memory)
    await import_lines(other, lines)
    first = await content(other)

    again = await import_lines(other, lines)

    assert (again.counts["fact"].created, again.counts["fact"].merged) == (0, 40)
    assert again.counts["session"].skipped == 2 and again.counts["checkpoint"].skipped == 4
    assert (again.counts["message"].created, again.counts["message"].skipped) == (0, 26)
    second = await content(other)
    assert len(second["facts"]) == 40 and second["checkpoints"] == first["checkpoints"]
    assert second["messages"] == first["messages"]


async def test_an_imported_fact_that_restates_a_stored_one_is_merged(memory: Memory, other: Memory) -> None:
    await memory.facts.remember("alice", _new("The user drinks oat milk flat whites", tags=["coffee"]))
    await other.facts.remember("alice", _new("the user drinks oat milk flat whites.", tags=["milk"]))

    report = await import_lines(other, await exported(memory))

    assert report.counts["fact"].merged == 1
    [fact] = await other.facts.list_facts("alice")
    assert sorted(fact.tags) == ["coffee", "milk"]


async def test_a_checkpoint_whose_id_is_taken_gets_a_new_id_and_its_child_follows(
    memory: Memory, other: Memory
) -> None:
    await memory.checkpoints.save("alice", NewCheckpoint(thread_id="a", state={"n": 1}))
    await memory.checkpoints.save("alice", NewCheckpoint(thread_id="a", state={"n": 2}))
    await other.checkpoints.save("alice", NewCheckpoint(thread_id="mine", state={"x": 0}))  # takes id 1

    await import_lines(other, await exported(memory))

    history = await other.checkpoints.history("alice", "a")
    newest, oldest = history.checkpoints
    assert oldest.id != 1 and newest.parent_id == oldest.id
    assert (await other.checkpoints.restore("alice", "a")).state == {"n": 2}
    assert (await other.checkpoints.restore("alice", "mine")).state == {"x": 0}


async def test_an_altered_checkpoint_state_is_refused(memory: Memory, other: Memory) -> None:
    await memory.checkpoints.save("alice", NewCheckpoint(thread_id="a", state={"n": 1}))
    lines = [line.replace('"n":1', '"n":2') for line in await exported(memory)]

    with pytest.raises(TransferError, match="does not match its hash"):
        await import_lines(other, lines)


async def test_a_file_that_is_not_an_export_is_refused_with_nothing_imported(other: Memory) -> None:
    with pytest.raises(TransferError, match="neither"):
        await import_lines(other, ['{"hello": 1}'])
    with pytest.raises(TransferError, match="not JSON"):
        await import_lines(other, ["not json"])
    assert await other.facts.count("alice") == 0


async def test_a_knowledge_graph_memory_jsonl_becomes_facts(other: Memory, tmp_path: Path) -> None:
    graph = [
        {"type": "entity", "name": "John_Smith", "entityType": "Person", "observations": ["Speaks fluent Spanish"]},
        {
            "type": "entity",
            "name": "Anthropic",
            "entityType": "Organization",
            "observations": ["Builds Claude", "Based in San Francisco"],
        },
        {"type": "relation", "from": "John_Smith", "to": "Anthropic", "relationType": "works_at"},
    ]
    path = tmp_path / "memory.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in graph) + "\n")

    report = await import_lines(other, read_lines(path, passphrase=lambda: pytest.fail("not sealed")))

    assert report.format == "mcp-knowledge-graph"
    assert report.counts["observation"].created == 3 and report.counts["relation"].created == 1
    stored = {(f.content, f.category, tuple(f.tags)) for f in await other.facts.list_facts("alice")}
    assert stored == {
        ("John_Smith: Speaks fluent Spanish", "person", ("john_smith",)),
        ("Anthropic: Builds Claude", "organization", ("anthropic",)),
        ("Anthropic: Based in San Francisco", "organization", ("anthropic",)),
        ("John_Smith works_at Anthropic", "relation", ("john_smith", "anthropic")),
    }
    again = await import_lines(other, read_lines(path, passphrase=lambda: "unused"))
    assert again.counts["observation"].merged == 3 and await other.facts.count("alice") == 4


def _new(content: str, **fields: Any) -> Any:
    from memory_server.memory.facts import NewFact

    return NewFact(content=content, **fields)


def test_a_sealed_export_made_on_the_command_line_imports_only_with_its_passphrase(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The CLI runs on the wall clock, so the data is written near it (sessions stay live).
    clock = ManualClock(time.time() - 3_600)
    source, target, sealed_file = tmp_path / "source", tmp_path / "target", tmp_path / "backup.sealed"

    async def populate() -> None:
        async with open_memory(make_settings(source), embedder=ReadyEmbedder(FakeEncoder()), clock=clock) as m:
            await fill(m, facts=50, sessions=3, checkpoints=5)

    asyncio.run(populate())
    # The import re-embeds; the fake encoder stands in for the model (meaning is not under test).
    monkeypatch.setattr(embeddings, "load_encoder", lambda s, threads=None: FakeEncoder(s.dimension, s.model))

    def cli(home: Path, *args: str, passphrase: str) -> Any:
        return CliRunner().invoke(
            main,
            ["--home", str(home), "--user", "alice", *args],
            env={"MEMORY_SERVER_EXPORT_PASSPHRASE": passphrase, "HF_HUB_OFFLINE": "1"},
        )

    exported = cli(source, "export", "--out", str(sealed_file), "--encrypt", passphrase="correct horse")
    assert exported.exit_code == 0, exported.output
    assert is_sealed(sealed_file.read_bytes()) and b"item1" not in sealed_file.read_bytes()
    assert stat.S_IMODE(sealed_file.stat().st_mode) == 0o600

    refused = cli(target, "import", str(sealed_file), passphrase="wrong horse")
    assert refused.exit_code == 1 and "Wrong passphrase" in refused.output
    assert not (target / "memory.db").exists()  # refused before the store was opened

    imported = cli(target, "import", str(sealed_file), "--json", passphrase="correct horse")
    assert imported.exit_code == 0, imported.output
    report = json.loads(imported.stdout)
    assert report["counts"]["fact"]["created"] == 50 and report["counts"]["checkpoint"]["created"] == 5

    async def both() -> tuple[dict[str, Any], dict[str, Any]]:
        async with (
            open_memory(make_settings(source), embedder=ReadyEmbedder(FakeEncoder()), clock=clock) as a,
            open_memory(make_settings(target), embedder=ReadyEmbedder(FakeEncoder()), clock=clock) as b,
        ):
            return await content(a), await content(b)

    before, after = asyncio.run(both())
    assert after == before


async def test_the_audit_is_exported_on_request_and_not_merged_on_import(memory: Memory, other: Memory) -> None:
    await memory.facts.remember("alice", _new("Plays the cello on Sundays"))
    plain, with_audit = await exported(memory), await exported(memory, include_audit=True)

    audit = [json.loads(line) for line in with_audit if line.startswith('{"type":"audit"')]
    assert not [line for line in plain if line.startswith('{"type":"audit"')]
    assert [row["action"] for row in audit] == ["fact.created"]
    assert json.loads(with_audit[0])["counts"]["audit"] == 1

    report = await import_lines(other, with_audit)

    assert report.counts["audit"].skipped == 1 and report.counts["fact"].created == 1
    async with other.db.read() as conn:  # the import is audited in its own store, like remember
        actions = await other.db.fetchall(conn, "SELECT action, user_id FROM audit_log")
    assert actions == [("fact.created", "alice")]


async def test_an_export_cut_off_at_a_line_is_reported_incomplete(memory: Memory, other: Memory) -> None:
    await fill(memory, facts=20, sessions=1, checkpoints=2)
    lines = await exported(memory)

    with pytest.raises(TransferError, match=f"announces {len(lines) - 1} records but the file holds {len(lines) - 6}"):
        await import_lines(other, lines[:-5])
