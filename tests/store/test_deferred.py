"""Bookkeeping of reads (use counts, the audit of served facts) is written with the next write
or within `store.deferred_flush_ms`, so answering a search makes no durable write of its own."""

from __future__ import annotations

import asyncio
from pathlib import Path

from memory_server.app import Memory, open_memory
from memory_server.clock import ManualClock
from memory_server.embeddings import FakeEncoder, ReadyEmbedder
from memory_server.memory.facts import NewFact, SearchRequest
from tests.conftest import make_settings

USER = "alice"


async def served_rows(memory: Memory) -> int:
    async with memory.db.read() as conn:
        row = await memory.db.fetchone(conn, "SELECT count(*) FROM audit_log WHERE action = 'facts.served'")
    assert row is not None
    return int(row[0])


async def uses(memory: Memory, fact_id: int) -> int:
    async with memory.db.read() as conn:
        row = await memory.db.fetchone(conn, "SELECT access_count FROM facts WHERE id = ?", (fact_id,))
    assert row is not None
    return int(row[0])


async def test_a_search_writes_nothing_until_the_next_write_carries_its_bookkeeping(memory: Memory) -> None:
    tea = (await memory.facts.remember(USER, NewFact("Likes green tea"))).fact_id
    changes_before = await memory.db.scalar("SELECT total_changes()")
    await memory.facts.search(USER, SearchRequest("green tea"))
    assert await memory.db.scalar("SELECT total_changes()") == changes_before
    assert (await served_rows(memory), await uses(memory, tea)) == (0, 0)

    await memory.facts.remember(USER, NewFact("Walks to work"))
    assert (await served_rows(memory), await uses(memory, tea)) == (1, 1)


async def test_pending_bookkeeping_is_written_within_the_flush_delay_without_another_write(
    tmp_path: Path, clock: ManualClock
) -> None:
    settings = make_settings(tmp_path, store={"synchronous": "NORMAL", "deferred_flush_ms": 20})
    async with open_memory(settings, embedder=ReadyEmbedder(FakeEncoder()), clock=clock) as memory:
        tea = (await memory.facts.remember(USER, NewFact("Likes green tea"))).fact_id
        await memory.facts.search(USER, SearchRequest("green tea"))
        for _ in range(200):  # the real event loop's timer, not the injected clock
            if await uses(memory, tea):
                break
            await asyncio.sleep(0.01)
        assert (await served_rows(memory), await uses(memory, tea)) == (1, 1)


async def test_bookkeeping_for_a_fact_erased_meanwhile_is_dropped_without_failing_the_write(memory: Memory) -> None:
    cat = (await memory.facts.remember(USER, NewFact("Has a cat named Miso"))).fact_id
    await memory.facts.search(USER, SearchRequest("cat Miso"))
    async with memory.db.write() as conn:  # an erase that bypasses the service, as another process could
        await conn.execute("DELETE FROM facts WHERE id = ?", (cat,))
    answer = await memory.facts.remember(USER, NewFact("Drinks oat milk"))
    assert answer.status == "created"
    assert (await memory.facts.get(USER, answer.fact_id)).content == "Drinks oat milk"


async def test_a_failed_write_keeps_the_bookkeeping_it_carried_for_the_next_one(memory: Memory) -> None:
    tea = (await memory.facts.remember(USER, NewFact("Likes green tea"))).fact_id
    await memory.facts.search(USER, SearchRequest("green tea"))
    try:
        async with memory.db.write():
            raise RuntimeError("the caller's work failed")
    except RuntimeError:
        pass
    assert await uses(memory, tea) == 0
    await memory.db.flush_deferred()
    assert (await served_rows(memory), await uses(memory, tea)) == (1, 1)


async def test_closing_the_store_writes_what_is_pending(tmp_path: Path, clock: ManualClock) -> None:
    settings = make_settings(tmp_path)
    async with open_memory(settings, embedder=ReadyEmbedder(FakeEncoder()), clock=clock) as memory:
        tea = (await memory.facts.remember(USER, NewFact("Likes green tea"))).fact_id
        await memory.facts.search(USER, SearchRequest("green tea"))
    async with open_memory(settings, embedder=ReadyEmbedder(FakeEncoder()), clock=clock) as memory:
        assert (await served_rows(memory), await uses(memory, tea)) == (1, 1)
