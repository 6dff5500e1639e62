"""De-duplication with the real model: restatements merge, changed details never do."""

from __future__ import annotations

import pytest

from memory_server.app import Memory
from memory_server.memory.facts import NewFact

USER = "alice"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("My flight to Lisbon departs on May 3", "My flight to Lisbon departs on May 5"),
        ("My daughter is 7 years old", "My daughter is 8 years old"),
        ("My manager is Priya Raman", "My manager is Tomasz Raman"),
    ],
)
async def test_a_changed_date_number_or_name_is_stored_not_merged(real_memory: Memory, first: str, second: str) -> None:
    await real_memory.facts.remember(USER, NewFact(first))
    result = await real_memory.facts.remember(USER, NewFact(second))
    assert result.status == "created"
    assert result.fact.content == second


async def test_a_restatement_merges(real_memory: Memory) -> None:
    first = await real_memory.facts.remember(USER, NewFact("My flight to Lisbon departs on May 3"))
    again = await real_memory.facts.remember(USER, NewFact("my flight to Lisbon departs on May 3."))
    assert again.status == "duplicate"
    assert again.fact_id == first.fact_id
