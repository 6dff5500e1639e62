"""Per-user ids: growing, below 2^53, never repeated for a user, and a clash with another
user's id is skipped."""

from __future__ import annotations

import pytest

from memory_server.app import Memory
from memory_server.memory.facts import NewFact
from memory_server.store import ids


class Rollback(Exception):
    pass


async def test_a_users_ids_grow_and_an_erased_id_is_never_given_again(memory: Memory) -> None:
    first = [(await memory.facts.remember("alice", NewFact(f"Fact {n}: code {n * 31}"))).fact_id for n in range(3)]
    assert first == sorted(first) and all(0 < i < ids.SPACE for i in first)
    await memory.facts.forget("alice", fact_id=first[-1])
    again = (await memory.facts.remember("alice", NewFact("A fact stored after the forget"))).fact_id
    assert again > first[-1]


async def test_an_id_another_user_holds_is_skipped(memory: Memory) -> None:
    async def peek() -> int:
        """Bob's next id, allocated in a transaction that is then rolled back."""
        async with memory.db.write() as conn:
            [next_id] = await ids.allocate(conn, "facts", "bob")
            raise Rollback(next_id)

    with pytest.raises(Rollback) as peeked:
        await peek()
    would_be = int(peeked.value.args[0])
    async with memory.db.write() as conn:
        await conn.execute(
            "INSERT INTO facts (id, user_id, content, content_key, importance, created_at, updated_at) "
            "VALUES (?, 'alice', 'taken', 'k', 0.5, 0, 0)",
            (would_be,),
        )
    async with memory.db.write() as conn:
        [given] = await ids.allocate(conn, "facts", "bob")
    assert given > would_be
