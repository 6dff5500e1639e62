"""In multi-user mode no id says anything about other users: the same database, copied, hands
user b exactly the same ids whether or not user a was busy first; a user's audit view shows no
chain ids or hashes. Ids stay below 2^53 and old ids keep working after the upgrade."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from memory_server.app import open_memory
from memory_server.embeddings import FakeEncoder, ReadyEmbedder
from memory_server.memory.facts import NewFact
from memory_server.store import Database
from memory_server.store import database as database_module
from memory_server.store.ids import SPACE
from memory_server.store.migrations import MIGRATIONS
from tests.conftest import make_settings
from tests.stdio import call, stdio_client

pytestmark = pytest.mark.e2e

MULTI = {"MEMORY_SERVER_MULTI_USER": "true", "MEMORY_SERVER_EMBEDDINGS__PRELOAD": "false"}


async def busy(client: Any, user: str, rounds: int) -> None:
    for index in range(rounds):
        await call(client, "remember_fact", user_id=user, content=f"{user} fact {index}: code {index * 17}")
        started = await call(client, "append_messages", user_id=user, messages=[{"role": "user", "content": "hi"}])
        await call(client, "record_tool_call", user_id=user, session_id=started["session_id"], tool_name="grep")
        await call(client, "save_checkpoint", user_id=user, thread_id="job", state={"n": index})


async def ids_of_b(client: Any) -> dict[str, Any]:
    fact = await call(client, "remember_fact", user_id="b", content="b likes green tea")
    second = await call(client, "remember_fact", user_id="b", content="b works from Porto on Mondays")
    turns = [{"role": "user", "content": "x"}, {"role": "user", "content": "y"}]
    started = await call(client, "append_messages", user_id="b", messages=turns)
    recorded = await call(client, "record_tool_call", user_id="b", session_id=started["session_id"], tool_name="ls")
    saved = await call(client, "save_checkpoint", user_id="b", thread_id="t", state={"a": 1})
    audit = await client.read_resource("memory://users/b/audit")
    return {
        "facts": [fact["fact_id"], second["fact_id"]],
        "messages": started["message_ids"],
        "tool_call": recorded["call_id"],
        "checkpoint": saved["checkpoint_id"],
        "audit": audit.contents[0].text,  # type: ignore[union-attr]
    }


async def test_user_b_gets_the_same_ids_whether_or_not_user_a_wrote_first(tmp_path: Path) -> None:
    quiet, after_a = tmp_path / "quiet", tmp_path / "after-a"
    async with stdio_client(quiet, env=MULTI) as client:
        await call(client, "get_user_context", user_id="nobody")  # creates the database and its id key
    shutil.copytree(quiet, after_a)

    async with stdio_client(after_a, env=MULTI) as client:
        await busy(client, "a", rounds=3)
        seen_after_a = await ids_of_b(client)
    async with stdio_client(quiet, env=MULTI) as client:
        seen_alone = await ids_of_b(client)

    for kind in ("facts", "messages", "tool_call", "checkpoint"):
        assert seen_after_a[kind] == seen_alone[kind], kind
    assert seen_alone["facts"][0] < seen_alone["facts"][1]  # still growing, so "latest" is the highest
    every = [*seen_alone["facts"], *seen_alone["messages"], seen_alone["tool_call"], seen_alone["checkpoint"]]
    assert all(0 < value < SPACE for value in every)
    for view in (seen_after_a["audit"], seen_alone["audit"]):
        assert '"hash"' not in view and '"id"' not in view and '"prev_hash"' not in view


async def test_ids_given_before_the_upgrade_keep_working_and_are_never_given_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(tmp_path)
    with monkeypatch.context() as patch:
        patch.setattr(database_module, "MIGRATIONS", MIGRATIONS[:4])
        async with Database.open(settings) as db, db.write() as conn:
            for content in ("Old fact one", "Old fact two", "Old fact three"):
                await conn.execute(
                    "INSERT INTO facts (user_id, content, content_key, importance, created_at, updated_at) "
                    "VALUES ('alice', ?, ?, 0.5, 0, 0)",
                    (content, content),
                )
            await conn.execute("DELETE FROM facts WHERE id = 3")  # the highest: a counter would reuse it

    async with open_memory(settings, embedder=ReadyEmbedder(FakeEncoder())) as memory:
        assert (await memory.facts.get("alice", 1)).content == "Old fact one"
        new = await memory.facts.remember("alice", NewFact("A new fact after the upgrade"))
        assert new.fact_id > 3
        assert (await memory.facts.get("alice", 2)).content == "Old fact two"
