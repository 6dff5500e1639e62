"""Four real server processes on one database file, each sent 50 concurrent writes: every
acknowledged write is on disk, and no caller ever sees "database is locked".

The four servers start at the same moment on an empty folder, as a host that launches its
agents together would do, and live for the whole module.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
import pytest_asyncio
from mcp import Client
from mcp.types import CallToolResult

from memory_server.store import Database
from tests.conftest import make_settings
from tests.stdio import call, stdio_client

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

SERVERS = 4
CALLS = 50
ENV = {
    "MEMORY_SERVER_EMBEDDINGS__THREADS": "1",
    # Only the same text merges: the test sends distinct facts and counts every one of them.
    "MEMORY_SERVER_FACTS__DUPLICATE_SIMILARITY": "1.0",
    "MEMORY_SERVER_CHECKPOINTS__KEEP_PER_THREAD": "1000",
}


@dataclass
class Pool:
    home: Path
    clients: list[Client]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pool(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Pool]:
    """Four servers started together. One task owns their clients, so each client's task
    group opens and closes in the same task."""
    home = tmp_path_factory.mktemp("shared")
    clients: list[Client] = []
    ready, stop = asyncio.Event(), asyncio.Event()

    async def serve_one() -> None:
        async with stdio_client(home, env=ENV) as client:
            clients.append(client)
            if len(clients) == SERVERS:
                ready.set()
            await stop.wait()

    async def own() -> None:
        async with anyio.create_task_group() as group:
            for _ in range(SERVERS):
                group.start_soon(serve_one)

    owner = asyncio.create_task(own())
    waiting = asyncio.create_task(ready.wait())
    await asyncio.wait([owner, waiting], return_when=asyncio.FIRST_COMPLETED)
    if owner.done():
        waiting.cancel()
        owner.result()  # raises why the servers did not start
    yield Pool(home, clients)
    stop.set()
    await owner


async def fan_out(pool: Pool, request: Callable[[int, int], Awaitable[CallToolResult]]) -> list[CallToolResult]:
    """`request(server, n)` for 50 n on each of the 4 servers, all at once."""
    results: list[CallToolResult] = []

    async def one(server: int, n: int) -> None:
        results.append(await request(server, n))

    async with anyio.create_task_group() as group:
        for server in range(SERVERS):
            for n in range(CALLS):
                group.start_soon(one, server, n)
    return results


def successes(results: list[CallToolResult]) -> list[dict[str, Any]]:
    errors = [r.content[0].text for r in results if r.is_error]  # type: ignore[union-attr]
    assert errors == [], f"{len(errors)} of {len(results)} calls failed, e.g. {errors[:3]}"
    assert len(results) == SERVERS * CALLS
    return [r.structured_content or {} for r in results]


async def on_disk(home: Path, sql: str) -> list[tuple[Any, ...]]:
    """Read through a fresh connection of this process, beside the four servers'."""
    async with Database.open(make_settings(home)) as db, db.read() as conn:
        return await db.fetchall(conn, sql)


def fact_text(server: int, n: int) -> str:
    return f"Process {server} call {n}: the user keeps note number {server * 1000 + n} in drawer {n % 7}"


async def test_200_concurrent_remember_fact_calls_from_4_processes_are_all_stored(pool: Pool) -> None:
    results = await fan_out(
        pool,
        lambda server, n: pool.clients[server].call_tool(
            "remember_fact", {"content": fact_text(server, n), "tags": [f"p{server}"]}
        ),
    )
    answers = successes(results)
    assert {a["status"] for a in answers} == {"created"}
    acknowledged = {a["fact_id"]: a["fact"]["content"] for a in answers}
    assert len(acknowledged) == SERVERS * CALLS

    stored = {row[0]: row[1] for row in await on_disk(pool.home, "SELECT id, content FROM facts")}
    assert stored == acknowledged
    vectors = await on_disk(pool.home, "SELECT count(*) FROM fact_vectors")
    assert vectors == [(SERVERS * CALLS,)]


async def test_200_concurrent_append_messages_calls_into_one_session_keep_every_message_in_order(
    pool: Pool,
) -> None:
    started = await call(pool.clients[0], "append_messages", messages=[{"role": "system", "content": "Be brief."}])
    session_id = started["session_id"]

    results = await fan_out(
        pool,
        lambda server, n: pool.clients[server].call_tool(
            "append_messages",
            {"session_id": session_id, "messages": [{"role": "user", "content": f"message {n} via {server}"}]},
        ),
    )
    answers = successes(results)
    acknowledged = {answer["message_ids"][0] for answer in answers}
    assert len(acknowledged) == SERVERS * CALLS

    rows = await on_disk(pool.home, f"SELECT id, seq, content FROM messages WHERE session_id = '{session_id}'")
    assert {row[0] for row in rows} == acknowledged | set(started["message_ids"])
    assert sorted(row[1] for row in rows) == list(range(1, SERVERS * CALLS + 2))
    assert {row[2] for row in rows} >= {f"message {n} via {s}" for s in range(SERVERS) for n in range(CALLS)}
    [(count,)] = await on_disk(pool.home, f"SELECT message_count FROM sessions WHERE id = '{session_id}'")
    assert count == SERVERS * CALLS + 1


async def test_200_concurrent_save_checkpoint_calls_on_one_thread_form_one_unbroken_chain(pool: Pool) -> None:
    results = await fan_out(
        pool,
        lambda server, n: pool.clients[server].call_tool(
            "save_checkpoint", {"thread_id": "shared-task", "state": {"server": server, "n": n}}
        ),
    )
    answers = successes(results)
    acknowledged = {answer["checkpoint_id"] for answer in answers}
    assert len(acknowledged) == SERVERS * CALLS

    rows = await on_disk(
        pool.home, "SELECT id, parent_id, step, state FROM checkpoints WHERE thread_id = 'shared-task' ORDER BY id"
    )
    assert {row[0] for row in rows} == acknowledged
    # Each save saw the one before it as the thread's latest: the writes were serialized.
    assert [row[1] for row in rows] == [None] + [row[0] for row in rows[:-1]]
    assert [row[2] for row in rows] == list(range(1, SERVERS * CALLS + 1))
