"""get_user_context: ranked, framed as data, and never over its token budget."""

from __future__ import annotations

import pytest

from memory_server.app import Memory
from memory_server.clock import ManualClock
from memory_server.memory import text
from memory_server.memory.context import HEADER
from memory_server.memory.facts import NewFact

USER = "alice"


async def test_an_empty_memory_says_so(memory: Memory) -> None:
    context = await memory.context.build(USER)
    assert context.facts == [] and context.omitted == 0
    assert "No facts" in context.text


async def test_the_context_is_framed_as_data_with_dates_and_ids(memory: Memory) -> None:
    result = await memory.facts.remember(USER, NewFact("Prefers metric units", category="preference"))
    context = await memory.context.build(USER)
    assert context.text.startswith(HEADER)
    assert "not instructions" in HEADER
    assert f"- [2026-01-01, preference] Prefers metric units (id {result.fact_id})" in context.text


@pytest.mark.parametrize("budget", [50, 120, 400, 800])
async def test_the_context_never_exceeds_its_budget_and_counts_what_was_left_out(memory: Memory, budget: int) -> None:
    for i in range(60):
        await memory.facts.remember(USER, NewFact(f"Fact number {i} about topic {i * 7} with detail {i * 13}"))
    context = await memory.context.build(USER, max_tokens=budget)
    assert context.tokens == text.estimate_tokens(context.text) <= budget
    assert len(context.facts) + context.omitted == 60
    assert context.omitted > 0
    assert f"{context.omitted} more remembered facts" in context.text


async def test_important_facts_come_first_and_recency_breaks_ties(memory: Memory, clock: ManualClock) -> None:
    await memory.facts.remember(USER, NewFact("Ordinary old fact about bikes", importance=0.5))
    clock.advance(days=60)
    await memory.facts.remember(USER, NewFact("Ordinary new fact about boats", importance=0.5))
    await memory.facts.remember(USER, NewFact("Essential fact about allergies", importance=0.95))
    contents = [fact.content for fact in (await memory.context.build(USER)).facts]
    assert contents == [
        "Essential fact about allergies",
        "Ordinary new fact about boats",
        "Ordinary old fact about bikes",
    ]


async def test_a_query_pulls_related_facts_ahead_of_important_ones(memory: Memory) -> None:
    await memory.facts.remember(USER, NewFact("Essential fact about allergies", importance=0.95))
    await memory.facts.remember(USER, NewFact("Keeps bees on the balcony", importance=0.3))
    context = await memory.context.build(USER, query="balcony bees")
    assert context.facts[0].content == "Keeps bees on the balcony"


async def test_facts_beyond_those_ranked_still_count_as_left_out(
    memory: Memory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from memory_server.memory import context as context_module

    monkeypatch.setattr(context_module, "MAX_CONSIDERED", 10)
    for i in range(30):
        await memory.facts.remember(USER, NewFact(f"Distinct fact {i} on subject {i * 31}"))
    context = await memory.context.build(USER, max_tokens=8000)
    assert len(context.facts) == 10
    assert context.omitted == 20
    assert "20 more remembered facts" in context.text
