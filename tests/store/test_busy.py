"""Another process holding the write lock: bounded retries, then a loud failure that wrote
nothing; and several processes creating a new database at the same moment."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from mcp import Client

from memory_server.app import Memory, open_memory
from memory_server.clock import ManualClock
from memory_server.config import Settings
from memory_server.embeddings import FakeEncoder, ReadyEmbedder
from memory_server.errors import StoreBusyError
from memory_server.memory.checkpoints import NewCheckpoint
from memory_server.memory.facts import NewFact
from memory_server.server import build_server
from memory_server.store import Database, connection
from memory_server.store.database import resolve_key
from memory_server.store.migrations import MIGRATIONS
from tests.conftest import make_settings

BUDGET = {"busy_timeout_ms": 100, "write_attempts": 2, "synchronous": "NORMAL"}


@pytest.fixture
def impatient(tmp_path: Path) -> Settings:
    """Waits 100 ms for the lock, twice."""
    return make_settings(tmp_path, store=BUDGET)


@asynccontextmanager
async def write_lock_held_elsewhere(settings: Settings) -> AsyncIterator[None]:
    """Another connection (as another process would) holding the write lock. Taken off the
    event loop, so the server's own work in flight (its sweeper) can finish first."""
    other = await asyncio.to_thread(connection.connect, settings.database_path, resolve_key(settings))
    try:
        await asyncio.to_thread(other.execute, "BEGIN IMMEDIATE")
        yield
        other.execute("ROLLBACK")
    finally:
        other.close()


async def counts(memory: Memory) -> dict[str, int]:
    return {t: await memory.db.scalar(f"SELECT count(*) FROM {t}") for t in ("facts", "checkpoints", "sessions")}


async def test_a_write_that_cannot_take_the_lock_within_its_budget_fails_loudly_and_writes_nothing(
    impatient: Settings, clock: ManualClock
) -> None:
    async with open_memory(impatient, embedder=ReadyEmbedder(FakeEncoder()), clock=clock) as memory:
        before = await counts(memory)
        async with write_lock_held_elsewhere(impatient):
            started = time.monotonic()
            with pytest.raises(StoreBusyError, match=r"nothing was written\. Retry the call"):
                await memory.checkpoints.save("alice", NewCheckpoint(thread_id="t-1", state={"step": 1}))
            waited = time.monotonic() - started
            with pytest.raises(StoreBusyError):
                await memory.facts.remember("alice", NewFact(content="The user likes green tea"))
        # Two attempts of 100 ms each: bounded, not a hang.
        assert 0.2 <= waited < 3.0
        assert await counts(memory) == before

        # The lock is free again: the same connection writes normally.
        await memory.checkpoints.save("alice", NewCheckpoint(thread_id="t-1", state={"step": 1}))
        assert (await counts(memory))["checkpoints"] == before["checkpoints"] + 1


async def test_a_busy_store_reaches_the_caller_as_a_tool_error_never_as_success(
    impatient: Settings, clock: ManualClock
) -> None:
    server = build_server(impatient, embedder=ReadyEmbedder(FakeEncoder()), clock=clock)
    async with Client(server, mode="legacy") as client:
        async with write_lock_held_elsewhere(impatient):
            saved = await client.call_tool("save_checkpoint", {"thread_id": "t-1", "state": {"a": 1}})
            appended = await client.call_tool("append_messages", {"messages": [{"role": "user", "content": "hi"}]})
            remembered = await client.call_tool("remember_fact", {"content": "The user likes green tea"})
        for result in (saved, appended, remembered):
            assert result.is_error
            assert "held the database write lock" in result.content[0].text  # type: ignore[union-attr]
            assert "nothing was written" in result.content[0].text  # type: ignore[union-attr]
        assert not (await client.call_tool("save_checkpoint", {"thread_id": "t-1", "state": {"a": 1}})).is_error

    async with Database.open(impatient) as db:
        assert await db.scalar("SELECT count(*) FROM checkpoints") == 1
        assert await db.scalar("SELECT count(*) FROM sessions") == 0
        assert await db.scalar("SELECT count(*) FROM facts") == 0


def _open_at_once(home: str, start: multiprocessing.synchronize.Barrier, answers: multiprocessing.Queue[str]) -> None:
    async def open_and_count() -> str:
        async with Database.open(make_settings(Path(home))) as db:
            return f"ok {await db.scalar('SELECT count(*) FROM schema_migrations')}"

    start.wait()
    try:
        answers.put(asyncio.run(open_and_count()))
    except BaseException as error:
        answers.put(f"{type(error).__name__}: {error}")


def test_four_processes_creating_a_new_database_at_the_same_moment_all_open_it(tmp_path: Path) -> None:
    """The first start of a host that launches several agents: one key file, one schema, no errors."""
    forked = multiprocessing.get_context("fork")
    for round_ in range(10):
        home = tmp_path / f"round-{round_}"
        start, answers = forked.Barrier(4), forked.Queue()
        workers = [forked.Process(target=_open_at_once, args=(str(home), start, answers)) for _ in range(4)]
        for worker in workers:
            worker.start()
        results = sorted(answers.get(timeout=60) for _ in workers)
        for worker in workers:
            worker.join(timeout=60)
        assert results == [f"ok {len(MIGRATIONS)}"] * 4
        assert sorted(p.name for p in home.iterdir() if not p.name.startswith("memory.db-")) == [
            "memory.db",
            "memory.key",
        ]


async def test_a_call_cancelled_while_it_waits_for_the_lock_leaves_the_store_usable(
    tmp_path: Path, clock: ManualClock
) -> None:
    """A client's cancellation lands while the queued BEGIN IMMEDIATE waits for another
    process: the BEGIN still runs later, and must not leave this connection in a transaction
    (which would hold the write lock for every process)."""
    patient = make_settings(tmp_path, store={"busy_timeout_ms": 2_000, "write_attempts": 1, "synchronous": "NORMAL"})
    async with open_memory(patient, embedder=ReadyEmbedder(FakeEncoder()), clock=clock) as memory:
        async with write_lock_held_elsewhere(patient):
            pending = asyncio.create_task(memory.checkpoints.save("alice", NewCheckpoint(thread_id="t", state={})))
            await asyncio.sleep(0.3)  # real time: the BEGIN is waiting on SQLite's busy handler
            pending.cancel()
            with pytest.raises(asyncio.CancelledError):
                await pending
        saved = await memory.checkpoints.save("alice", NewCheckpoint(thread_id="t", state={"ok": True}))
        assert saved.step == 1
        assert (await counts(memory))["checkpoints"] == 1
