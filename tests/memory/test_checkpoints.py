import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from memory_server.app import Memory, open_memory
from memory_server.clock import ManualClock
from memory_server.embeddings import FakeEncoder, ReadyEmbedder
from memory_server.errors import InvalidInputError, NotFoundError, StoreError
from memory_server.memory.checkpoints import NewCheckpoint, canonical_json
from tests.conftest import make_settings
from tests.memory.test_tool_calls import start_session


def progress(done: int) -> dict[str, Any]:
    return {"files_done": [f"src/file_{i}.py" for i in range(1, done + 1)], "next": done + 1, "notes": "ok ✓"}


async def save(memory: Memory, thread: str = "review-123", user: str = "alice", **fields: Any) -> Any:
    fields.setdefault("state", progress(1))
    return await memory.checkpoints.save(user, NewCheckpoint(thread_id=thread, **fields))


async def stored(memory: Memory) -> list[tuple[Any, ...]]:
    async with memory.db.read() as conn:
        return await memory.db.fetchall(conn, "SELECT id, user_id, thread_id, parent_id, step, hash FROM checkpoints")


async def test_a_checkpoint_restores_exactly_the_saved_state_with_its_hash(memory: Memory) -> None:
    state = {"b": [1, 2.5, None, True], "a": {"nested": "ü"}, "files": ["x.py"]}
    saved = await save(memory, state=state, label="first file", step=1)
    restored = await memory.checkpoints.restore("alice", "review-123")

    assert restored.state == state
    assert restored.checkpoint_id == saved.checkpoint_id
    assert restored.hash == saved.hash == hashlib.sha256(canonical_json(state).encode()).hexdigest()
    assert saved.size_bytes == len(canonical_json(state).encode())
    assert (restored.step, restored.label, restored.verified) == (1, "first file", True)


async def test_the_hash_names_the_content_not_the_key_order(memory: Memory) -> None:
    first = await save(memory, state={"a": 1, "b": 2})
    second = await save(memory, state={"b": 2, "a": 1})
    assert first.hash == second.hash


async def test_each_save_continues_from_the_thread_latest_checkpoint(memory: Memory) -> None:
    ids = [(await save(memory, state=progress(i))).checkpoint_id for i in range(1, 5)]
    history = await memory.checkpoints.history("alice", "review-123")

    assert [c.id for c in history.checkpoints] == ids[::-1]
    assert [c.parent_id for c in history.checkpoints] == [ids[2], ids[1], ids[0], None]
    assert [c.step for c in history.checkpoints] == [4, 3, 2, 1]
    assert (await memory.checkpoints.restore("alice", "review-123")).state == progress(4)
    assert (await memory.checkpoints.restore("alice", "review-123", ids[1])).state == progress(2)


async def test_retention_keeps_exactly_the_newest_n_checkpoints_of_a_thread(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, checkpoints={"keep_per_thread": 3})
    async with open_memory(settings, embedder=ReadyEmbedder(FakeEncoder()), clock=ManualClock()) as memory:
        ids = [(await save(memory, state=progress(i))).checkpoint_id for i in range(1, 8)]
        other = await save(memory, thread="other-thread")
        rows = await stored(memory)
        last = await save(memory, state=progress(8))

    assert sorted(row[0] for row in rows if row[2] == "review-123") == ids[-3:]
    assert [row[0] for row in rows if row[2] == "other-thread"] == [other.checkpoint_id]
    assert last.pruned == 1


async def test_a_state_over_the_size_limit_is_refused_with_advice_and_nothing_is_saved(memory: Memory) -> None:
    await save(memory, state=progress(1))
    huge = {"file_contents": "x" * (256 * 1024)}
    with pytest.raises(InvalidInputError, match=r"limit is 262144 bytes.*ids, paths, counters and short summaries"):
        await save(memory, state=huge)
    assert len(await stored(memory)) == 1
    assert (await memory.checkpoints.restore("alice", "review-123")).state == progress(1)


async def test_a_branch_from_an_older_checkpoint_has_that_parent_and_becomes_the_latest(memory: Memory) -> None:
    first = await save(memory, state=progress(1))
    second = await save(memory, state=progress(2))
    branch = await save(memory, state={"alternative": True}, parent_id=first.checkpoint_id, label="try plan B")
    following = await save(memory, state={"alternative": "continued"})

    assert branch.parent_id == first.checkpoint_id
    assert branch.step == 2
    assert following.parent_id == branch.checkpoint_id
    assert (await memory.checkpoints.restore("alice", "review-123", second.checkpoint_id)).state == progress(2)
    assert (await memory.checkpoints.restore("alice", "review-123")).state == {"alternative": "continued"}


async def test_a_corrupted_stored_state_is_refused_on_restore(memory: Memory) -> None:
    first = await save(memory, state=progress(1))
    second = await save(memory, state=progress(2))
    tampered = json.dumps(progress(9), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    async with memory.db.write() as conn:
        await conn.execute("UPDATE checkpoints SET state = ? WHERE id = ?", (tampered, second.checkpoint_id))

    with pytest.raises(StoreError, match=rf"Checkpoint {second.checkpoint_id} .* failed its integrity check"):
        await memory.checkpoints.restore("alice", "review-123")
    with pytest.raises(StoreError, match=f"its parent is {first.checkpoint_id}"):
        await memory.checkpoints.restore("alice", "review-123", second.checkpoint_id)
    assert (await memory.checkpoints.restore("alice", "review-123", first.checkpoint_id)).state == progress(1)


async def test_a_state_that_is_not_json_any_more_is_refused_on_restore(memory: Memory) -> None:
    saved = await save(memory)
    async with memory.db.write() as conn:
        await conn.execute("UPDATE checkpoints SET state = substr(state, 1, 10) WHERE id = ?", (saved.checkpoint_id,))
    with pytest.raises(StoreError, match="integrity check"):
        await memory.checkpoints.restore("alice", "review-123")


async def test_another_users_thread_is_unknown_like_a_missing_one(memory: Memory) -> None:
    bobs = await save(memory, user="bob", state={"secret": "bob's plan"})

    with pytest.raises(NotFoundError, match="Unknown thread 'review-123'") as by_name:
        await memory.checkpoints.restore("alice", "review-123")
    with pytest.raises(NotFoundError, match="Unknown thread 'review-123'") as by_id:
        await memory.checkpoints.restore("alice", "review-123", bobs.checkpoint_id)
    with pytest.raises(NotFoundError, match="Unknown thread 'review-123'"):
        await memory.checkpoints.history("alice", "review-123")
    with pytest.raises(NotFoundError, match="Unknown thread 'review-123'"):
        await save(memory, state=progress(1), parent_id=bobs.checkpoint_id)
    assert "bob" not in str(by_name.value) + str(by_id.value)
    assert await memory.checkpoints.threads("alice") == []
    assert len(await stored(memory)) == 1


async def test_an_unknown_checkpoint_id_error_lists_the_thread_latest_checkpoints(memory: Memory) -> None:
    ids = [(await save(memory, state=progress(i), label=f"file {i}")).checkpoint_id for i in range(1, 8)]
    with pytest.raises(NotFoundError) as error:
        await memory.checkpoints.restore("alice", "review-123", 999)
    message = str(error.value)
    assert "has no checkpoint 999" in message
    for checkpoint_id in ids[-5:]:
        assert f"{checkpoint_id} (step " in message
    assert "'file 7'" in message


async def test_an_unknown_thread_error_names_the_users_recent_threads(memory: Memory) -> None:
    await save(memory, thread="review-1")
    await save(memory, thread="review-2")
    with pytest.raises(NotFoundError, match=r"Unknown thread 'review-3'.*'review-2', 'review-1'"):
        await memory.checkpoints.restore("alice", "review-3")


@pytest.mark.parametrize(
    "bad",
    [
        {"thread_id": "../etc"},
        {"thread_id": ""},
        {"thread_id": "a" * 129},
        {"thread_id": "has space"},
        {"state": {"x": float("nan")}},
        {"state": {"x": "lone \ud800"}},
        {"state": ["not", "an", "object"]},
        {"step": -1},
        {"label": "x" * 201},
        {"label": "bell\x07"},
        {"parent_id": 999},
        {"session_id": "ses_" + "n" * 22},
    ],
)
async def test_bad_input_is_refused_and_changes_nothing(memory: Memory, bad: dict[str, Any]) -> None:
    await save(memory, state=progress(1))
    before = await stored(memory)
    fields: dict[str, Any] = {"thread_id": "review-123", "state": progress(2), **bad}
    with pytest.raises(InvalidInputError):
        await memory.checkpoints.save("alice", NewCheckpoint(**fields))
    assert await stored(memory) == before


async def test_threads_expire_ttl_days_after_their_last_save_and_are_deleted(
    memory: Memory, clock: ManualClock
) -> None:
    await save(memory, thread="old-task")
    clock.advance(days=20)
    await save(memory, thread="busy-task")
    clock.advance(days=9)
    await save(memory, thread="busy-task")
    assert (await memory.sweep())["threads"] == 0

    clock.advance(days=1, seconds=1)  # old-task: 30 days since its only save
    swept = await memory.sweep()

    assert swept["threads"] == 1
    assert [row[2] for row in await stored(memory)] == ["busy-task", "busy-task"]
    with pytest.raises(NotFoundError, match="Unknown thread 'old-task'"):
        await memory.checkpoints.restore("alice", "old-task")
    history = await memory.checkpoints.history("alice", "busy-task")
    assert history.expires_at == "2026-03-01T00:00:00Z"  # 29 + 30 days after 2026-01-01


async def test_a_checkpoint_with_a_session_is_resumed_with_that_session_summary(memory: Memory) -> None:
    session = await start_session(memory, ttl_hours=24)
    now = memory.db.clock()
    async with memory.db.write() as conn:
        await conn.execute(
            "INSERT INTO summaries (session_id, user_id, content, covers_through_seq, source, tokens, created_at) "
            "VALUES (?, 'alice', 'Reviewed files 1-3; style issues only.', 6, 'host', 9, ?)",
            (session, now),
        )
    await save(memory, state=progress(3), session_id=session, step=3)

    point = await memory.checkpoints.resume_point("alice", "review-123")
    assert point.checkpoint.state == progress(3)
    assert point.summary == "Reviewed files 1-3; style issues only."

    await save(memory, state=progress(4), step=4)
    assert (await memory.checkpoints.resume_point("alice", "review-123")).summary is None


async def test_saving_with_a_session_counts_as_activity_of_that_session(memory: Memory, clock: ManualClock) -> None:
    session = await start_session(memory, ttl_hours=1.0)
    clock.advance(seconds=50 * 60)
    await save(memory, state=progress(1), session_id=session)
    clock.advance(seconds=50 * 60)  # 100 minutes after the session began, 50 after the save: still live
    saved = await save(memory, state=progress(2), session_id=session)
    assert saved.step == 2
    assert await memory.db.scalar("SELECT expires_at FROM sessions WHERE id = ?", (session,)) == clock.now + 3_600
