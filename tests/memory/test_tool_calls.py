import hashlib
from pathlib import Path

import pytest

from memory_server.app import Memory, open_memory
from memory_server.clock import ManualClock
from memory_server.embeddings import FakeEncoder, ReadyEmbedder
from memory_server.errors import InvalidInputError, NotFoundError
from memory_server.memory.tool_calls import NewToolCall
from tests.conftest import make_settings

SESSION = "ses_" + "a" * 22


async def start_session(
    memory: Memory, session_id: str = SESSION, user_id: str = "alice", ttl_hours: float = 1.0
) -> str:
    """A live session row, written the way the sessions layer writes it."""
    now = memory.db.clock()
    async with memory.db.write() as conn:
        await conn.execute(
            "INSERT INTO sessions (id, user_id, agent_name, created_at, last_active_at, ttl_hours, expires_at) "
            "VALUES (?, ?, NULL, ?, ?, ?, ?)",
            (session_id, user_id, now, now, ttl_hours, now + ttl_hours * 3_600),
        )
    return session_id


async def stored_calls(memory: Memory) -> list[tuple[object, ...]]:
    async with memory.db.read() as conn:
        return await memory.db.fetchall(
            conn, "SELECT tool_name, status, input, output, output_length, output_hash FROM tool_calls ORDER BY id"
        )


async def test_a_tool_call_is_recorded_and_answers_with_the_session_run_totals(memory: Memory) -> None:
    session = await start_session(memory)
    recorded = await memory.tool_calls.record(
        "alice",
        NewToolCall(session_id=session, tool_name="grep", input={"pattern": "TODO"}, output="3 matches", tokens=40),
    )
    assert recorded.status == "ok"
    assert recorded.output_truncated is False
    assert recorded.output_length == len("3 matches")
    assert recorded.totals.tool_calls == 1
    assert recorded.totals.tokens == 40
    assert await stored_calls(memory) == [
        ("grep", "ok", '{"pattern":"TODO"}', "3 matches", 9, hashlib.sha256(b"3 matches").hexdigest())
    ]


async def test_long_tool_output_is_kept_as_a_head_with_its_full_length_and_hash(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, audit={"max_output_chars": 100})
    output = "".join(f"line {i}: ünïcode output\n" for i in range(500))
    async with open_memory(settings, embedder=ReadyEmbedder(FakeEncoder()), clock=ManualClock()) as memory:
        session = await start_session(memory)
        recorded = await memory.tool_calls.record(
            "alice", NewToolCall(session_id=session, tool_name="cat", output=output)
        )
        [(_, _, _, head, length, digest)] = await stored_calls(memory)
        audit = await memory.tool_calls.audit("alice", session)

    full_hash = hashlib.sha256(output.encode("utf-8")).hexdigest()
    assert recorded.output_truncated is True
    assert (recorded.output_length, recorded.output_hash) == (len(output), full_hash)
    assert head == output[:100]
    assert (length, digest) == (len(output), full_hash)
    assert audit.calls[0].output_truncated is True
    assert audit.calls[0].output == output[:100]


async def test_run_totals_count_calls_errors_tokens_cost_and_wall_time(memory: Memory, clock: ManualClock) -> None:
    session = await start_session(memory)
    await memory.tool_calls.record(
        "alice", NewToolCall(session_id=session, tool_name="a", duration_ms=2_000, tokens=10, cost_usd=0.01)
    )
    clock.advance(seconds=30)
    await memory.tool_calls.record(
        "alice", NewToolCall(session_id=session, tool_name="b", status="error", tokens=5, cost_usd=0.002)
    )
    clock.advance(seconds=10)
    await memory.tool_calls.record("alice", NewToolCall(session_id=session, tool_name="c", status="timeout"))

    totals = await memory.tool_calls.totals("alice", session)
    assert (totals.tool_calls, totals.errors, totals.tokens) == (3, 2, 15)
    assert totals.cost_usd == pytest.approx(0.012)
    assert totals.tool_ms == 2_000
    # From the start of the first call (2 s before it was recorded) to the last record.
    assert totals.wall_seconds == pytest.approx(42.0)


async def test_recording_a_tool_call_counts_as_session_activity(memory: Memory, clock: ManualClock) -> None:
    session = await start_session(memory, ttl_hours=1.0)
    clock.advance(seconds=50 * 60)
    await memory.tool_calls.record("alice", NewToolCall(session_id=session, tool_name="a"))
    clock.advance(seconds=50 * 60)  # 100 minutes after creation, 50 after the call: still live
    recorded = await memory.tool_calls.record("alice", NewToolCall(session_id=session, tool_name="b"))
    assert recorded.totals.tool_calls == 2
    expires_at = await memory.db.scalar("SELECT expires_at FROM sessions WHERE id = ?", (session,))
    assert expires_at == clock.now + 3_600


async def test_an_unknown_expired_or_other_users_session_is_refused_alike_and_nothing_is_written(
    memory: Memory, clock: ManualClock
) -> None:
    expired = await start_session(memory, session_id="ses_" + "e" * 22, ttl_hours=1.0)
    bobs = await start_session(memory, session_id="ses_" + "b" * 22, user_id="bob", ttl_hours=100.0)
    clock.advance(hours=2)
    for session in (expired, bobs, "ses_" + "n" * 22, "x" * 500):
        with pytest.raises(NotFoundError, match="Unknown or expired session"):
            await memory.tool_calls.record("alice", NewToolCall(session_id=session, tool_name="grep"))
    with pytest.raises(NotFoundError, match="Unknown or expired session"):
        await memory.tool_calls.audit("alice", bobs)
    assert await stored_calls(memory) == []


@pytest.mark.parametrize(
    "bad",
    [
        {"status": "exploded"},
        {"tokens": -1},
        {"cost_usd": -0.5},
        {"duration_ms": float("inf")},
        {"tool_name": "  "},
        {"tool_name": "x" * 500},
        {"output": "lone \ud800 surrogate"},
        {"input": {"x": float("nan")}},
    ],
)
async def test_bad_tool_call_input_is_refused_and_changes_nothing(memory: Memory, bad: dict[str, object]) -> None:
    session = await start_session(memory)
    before = await memory.db.scalar("SELECT expires_at FROM sessions WHERE id = ?", (session,))
    fields: dict[str, object] = {"session_id": session, "tool_name": "grep", **bad}
    with pytest.raises(InvalidInputError):
        await memory.tool_calls.record("alice", NewToolCall(**fields))  # type: ignore[arg-type]
    assert await stored_calls(memory) == []
    assert await memory.db.scalar("SELECT expires_at FROM sessions WHERE id = ?", (session,)) == before


async def test_tool_calls_are_deleted_with_their_session(memory: Memory) -> None:
    session = await start_session(memory)
    await memory.tool_calls.record("alice", NewToolCall(session_id=session, tool_name="grep", output="secret"))
    async with memory.db.write() as conn:
        await conn.execute("DELETE FROM sessions WHERE id = ?", (session,))
    assert await stored_calls(memory) == []
