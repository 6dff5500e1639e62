"""Consolidation: folding turns into a summary also remembers what the people said about
themselves, as facts that can be found later and forgotten by the session they came from."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from memory_server.app import Memory, open_memory
from memory_server.clock import ManualClock
from memory_server.embeddings import FakeEncoder, ReadyEmbedder
from memory_server.errors import InvalidInputError
from memory_server.memory import audit, consolidation
from memory_server.memory.audit import AuditService
from memory_server.memory.facts import NewFact, SearchRequest
from memory_server.memory.sessions import NewMessage
from memory_server.memory.summarizer import Turn
from tests.conftest import make_settings

JOB = "I started a new job as a Financial Analyst at Northwind last week, and my team is great."
ASSISTANT_ABOUT_ITSELF = "I am an AI language model built by a lab, and I don't have personal experiences or feelings."


def talk(time: str = "2023-05-08T13:56:00Z") -> list[NewMessage]:
    return [
        NewMessage("user", f"Hey Gina! {JOB}", "Jon", time=time),
        NewMessage("user", "Wow, congrats Jon! That's so cool!", "Gina", time=time),
        NewMessage("user", "My sister Ana moved to Lisbon in March to study architecture.", "Gina", time=time),
        NewMessage("assistant", ASSISTANT_ABOUT_ITSELF),
    ]


@pytest.fixture
async def memory(tmp_path: Path, clock: ManualClock) -> AsyncIterator[Memory]:
    """Every statement consolidated, whatever its length (the share is tested on its own)."""
    settings = make_settings(tmp_path, summaries={"fact_share": 1.0})
    async with open_memory(settings, embedder=ReadyEmbedder(FakeEncoder()), clock=clock) as opened:
        yield opened


def test_the_most_telling_statements_per_word_come_first_within_the_share() -> None:
    turns = [
        Turn("user", JOB, "Jon"),
        Turn("user", "I adopted a puppy named Rex.", "Gina"),
        Turn("user", "I think I might go for a walk later, maybe by the river, if the weather holds up.", "Jon"),
    ]
    assert consolidation.statements(turns, share=1.0) == [
        f"Jon said: {JOB}",
        "Gina said: I adopted a puppy named Rex.",
        "Jon said: I think I might go for a walk later, maybe by the river, if the weather holds up.",
    ]
    assert consolidation.statements(turns, share=0.6) == [f"Jon said: {JOB}", "Gina said: I adopted a puppy named Rex."]
    assert consolidation.statements(turns[2:], share=0.01) == [
        "Jon said: I think I might go for a walk later, maybe by the river, if the weather holds up."
    ]


def test_an_assistants_statement_about_itself_never_becomes_a_fact() -> None:
    assert consolidation.statement(Turn("assistant", ASSISTANT_ABOUT_ITSELF)) is None
    assert consolidation.statement(Turn("assistant", JOB)) is None
    assert consolidation.statement(Turn("user", ASSISTANT_ABOUT_ITSELF)) is not None


def test_phatic_and_question_turns_make_no_fact() -> None:
    for said in ("Wow, congrats Jon! That's so cool!", "What kind of job is it? Where is the office?"):
        assert consolidation.statement(Turn("user", said, "Gina")) is None


def test_a_fact_says_who_said_it_and_when() -> None:
    found = consolidation.statement(Turn("user", f"Hey Gina! {JOB}", "Jon", 1_683_554_160.0))
    assert found is not None
    assert found.content == f"On 8 May 2023, Jon said: {JOB}"
    unnamed = consolidation.statement(Turn("user", JOB))
    assert unnamed is not None and unnamed.content == f"the user said: {JOB}"


async def test_summarizing_remembers_the_peoples_statements_as_facts_with_their_session(memory: Memory) -> None:
    session_id = (await memory.sessions.append("alice", talk())).session_id
    done = await memory.sessions.summarize("alice", session_id, keep_recent=0)
    assert done.consolidated is not None
    assert len(done.consolidated.created) == 2 and done.consolidated.merged == []
    facts = await memory.facts.list_facts("alice")
    assert sorted(f.content for f in facts) == [
        "On 8 May 2023, Gina said: My sister Ana moved to Lisbon in March to study architecture.",
        f"On 8 May 2023, Jon said: {JOB}",
    ]
    assert {(f.category, f.importance, f.source_session) for f in facts} == {("conversation", 0.3, session_id)}
    assert not any("AI language model" in f.content for f in facts)
    [row] = await AuditService(memory.db).entries("alice", limit=1)
    assert (row.action, row.session_id, sorted(row.ids)) == (
        audit.SESSION_CONSOLIDATED,
        session_id,
        sorted(done.consolidated.created),
    )
    assert row.detail == {"created": 2, "merged": 0, "skipped": 0}
    hits = await memory.facts.search("alice", SearchRequest(query="Where did Gina's sister move?"))
    assert any("Lisbon" in hit.fact.content for hit in hits.hits)


async def test_a_restated_statement_merges_into_the_fact_already_kept(memory: Memory) -> None:
    first = (await memory.sessions.append("alice", talk())).session_id
    made = await memory.sessions.summarize("alice", first, keep_recent=0)
    again = await memory.sessions.append("alice", talk(), session_id=first)
    remade = await memory.sessions.summarize("alice", again.session_id, keep_recent=0)
    assert made.consolidated is not None and remade.consolidated is not None
    assert remade.consolidated.created == []
    assert sorted(remade.consolidated.merged) == sorted(made.consolidated.created)
    assert await memory.facts.count("alice") == 2


async def test_consolidated_facts_are_forgotten_together_by_their_session(memory: Memory) -> None:
    kept = await memory.facts.remember("alice", NewFact("Alice prefers tea to coffee."))
    first = (await memory.sessions.append("alice", talk())).session_id
    await memory.sessions.summarize("alice", first, keep_recent=0)
    other = (await memory.sessions.append("alice", talk("2024-01-02")[2:3])).session_id
    from_other = await memory.sessions.summarize("alice", other, keep_recent=0)
    assert from_other.consolidated is not None and len(from_other.consolidated.created) == 1

    preview = await memory.facts.forget("alice", session_id=first, dry_run=True)
    assert len(preview.deleted) == 2 and await memory.facts.count("alice") == 4
    gone = await memory.facts.forget("alice", session_id=first)
    assert gone.deleted == preview.deleted
    left = {f.id for f in await memory.facts.list_facts("alice")}
    assert left == {kept.fact_id, *from_other.consolidated.created}
    with pytest.raises(InvalidInputError, match="one of fact_id, query"):
        await memory.facts.forget("alice", session_id=first, fact_id=kept.fact_id)


async def test_consolidation_can_be_turned_off(tmp_path: Path, clock: ManualClock) -> None:
    settings = make_settings(tmp_path, summaries={"consolidate": False})
    async with open_memory(settings, embedder=ReadyEmbedder(FakeEncoder()), clock=clock) as memory:
        session_id = (await memory.sessions.append("alice", talk())).session_id
        done = await memory.sessions.summarize("alice", session_id, keep_recent=0)
        assert done.consolidated is None
        assert "Jon: I started a new job" in done.summary
        assert await memory.facts.count("alice") == 0


async def test_a_statement_the_facts_policy_refuses_is_skipped_and_the_rest_kept(
    tmp_path: Path, clock: ManualClock
) -> None:
    settings = make_settings(tmp_path, privacy={"facts": "refuse", "sessions": "keep"}, summaries={"fact_share": 1})
    contact = NewMessage("user", "My new email is jon.smith@example.com and I read it every morning.", "Jon")
    async with open_memory(settings, embedder=ReadyEmbedder(FakeEncoder()), clock=clock) as memory:
        session_id = (await memory.sessions.append("alice", [*talk()[:1], contact])).session_id
        done = await memory.sessions.summarize("alice", session_id, keep_recent=0)
        assert done.consolidated is not None
        assert (len(done.consolidated.created), done.consolidated.skipped) == (1, 1)
        assert not any("example.com" in f.content for f in await memory.facts.list_facts("alice"))
