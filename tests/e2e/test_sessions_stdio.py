"""Conversation sessions as a host sees them: `memory-server` over stdio, the official MCP client,
the real embedding model in the server process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp.types import TextResourceContents

from memory_server.memory.text import estimate_tokens
from memory_server.store import Database
from tests.conftest import make_settings
from tests.conversations import TURNS, messages
from tests.stdio import call, call_error, stdio_client

pytestmark = pytest.mark.e2e


async def row_counts(home: Path) -> dict[str, int]:
    """What is on disk, through a connection of this test process, beside the server's."""
    async with Database.open(make_settings(home)) as db:
        return {t: await db.scalar(f"SELECT count(*) FROM {t}") for t in ("sessions", "messages", "summaries")}


async def test_a_50_turn_conversation_is_windowed_summarized_and_totalled(tmp_path: Path) -> None:
    turns = messages()
    async with stdio_client(tmp_path) as client:
        started = await call(client, "append_messages", messages=turns[:20], agent_name="planner")
        session_id = started["session_id"]
        assert started["created"]
        assert len(started["message_ids"]) == 20
        for start in range(20, 50, 5):
            answer = await call(client, "append_messages", messages=turns[start : start + 5], session_id=session_id)
        expected_tokens = sum(m.get("tokens") or estimate_tokens(m["content"]) for m in turns)
        assert answer["totals"] == {"messages": 50, "tokens": expected_tokens, "cost_usd": pytest.approx(25 * 0.0015)}

        # Sliding window: the last N, oldest first, and a count of what was left out.
        window = await call(client, "get_session_context", session_id=session_id, max_messages=8)
        assert [m["content"] for m in window["messages"]] == [content for _, content in TURNS[-8:]]
        assert (window["summary"], window["omitted"]) == (None, 42)

        # Summary + recent, with a summary made locally (no host summary).
        local = await call(client, "summarize_session", session_id=session_id, keep_recent=10)
        assert (local["source"], local["covers_messages"], local["compacted_now"]) == ("local", 40, 40)
        for fact in ("Priya", "Lisbon", "peanuts", "Dagster", "March 14"):  # stated in the first turns
            assert fact in local["summary"]
        assert local["tokens_after"] < local["tokens_before"] / 2

        window = await call(client, "get_session_context", session_id=session_id, max_messages=6)
        assert window["summary"]["content"] == local["summary"]
        assert window["summary"]["source"] == "local"
        assert [m["seq"] for m in window["messages"]] == [45, 46, 47, 48, 49, 50]
        assert window["omitted"] == 44
        assert window["tokens"] == window["summary"]["tokens"] + sum(m["tokens"] for m in window["messages"])

        # The summary joins the packed user context, and the session resource shows it.
        context = await call(client, "get_user_context", session_id=session_id)
        assert "Lisbon" in context["text"]
        assert context["session_summary"]
        resource = await client.read_resource(f"memory://sessions/{session_id}")
        [content] = resource.contents
        assert isinstance(content, TextResourceContents)
        assert json.loads(content.text)["summary"]["content"] == local["summary"]

        # A host-written summary replaces it, covering everything but the last 2.
        await call(
            client,
            "append_messages",
            session_id=session_id,
            messages=[
                {"role": "user", "content": "Book the dinner for 8 pm please.", "cost_usd": 0.0},
                {"role": "assistant", "content": "Done: 8 pm at the Green Elephant.", "tokens": 12, "cost_usd": 0.001},
            ],
        )
        host_text = "Priya (Lisbon, peanut allergy) is moving billing to Dagster; cutover March 14."
        host = await call(client, "summarize_session", session_id=session_id, summary=host_text, keep_recent=2)
        assert (host["source"], host["covers_messages"], host["compacted_now"]) == ("host", 50, 10)
        window = await call(client, "get_session_context", session_id=session_id)
        assert window["summary"]["content"] == host_text
        assert [m["content"] for m in window["messages"]] == [
            "Book the dinner for 8 pm please.",
            "Done: 8 pm at the Green Elephant.",
        ]
        assert window["totals"] == {
            "messages": 52,
            "tokens": expected_tokens + estimate_tokens("Book the dinner for 8 pm please.") + 12,
            "cost_usd": pytest.approx(25 * 0.0015 + 0.001),
        }


async def test_bad_input_over_stdio_gets_a_clear_error_and_writes_nothing(tmp_path: Path) -> None:
    async with stdio_client(tmp_path) as alice:
        started = await call(alice, "append_messages", messages=messages()[:3])
        session_id = started["session_id"]
        before = await row_counts(tmp_path)

        error = await call_error(alice, "append_messages", messages=[{"role": "robot", "content": "beep"}])
        assert "role" in error
        assert 'messages[0].role must be one of "user", "assistant", "system", "tool"' in error
        error = await call_error(alice, "append_messages", messages=[], session_id=session_id)
        assert "messages is empty" in error
        flood = [{"role": "user", "content": f"message {i}"} for i in range(10_000)]
        error = await call_error(alice, "append_messages", messages=flood, session_id=session_id)
        assert "10000 messages given; the limit is 500 per call. Nothing was added." in error
        unknown = "ses_" + "Z" * 22
        unknown_error = await call_error(alice, "get_session_context", session_id=unknown)
        assert f"Unknown or expired session '{unknown}'" in unknown_error
        assert "append_messages without session_id" in unknown_error

        async with stdio_client(tmp_path, env={"MEMORY_SERVER_USER": "bob"}) as bob:
            for tool, arguments in (
                ("get_session_context", {}),
                ("append_messages", {"messages": [{"role": "user", "content": "hi, it's bob"}]}),
                ("summarize_session", {"summary": "bob was here", "keep_recent": 0}),
            ):
                of_alice = await call_error(bob, tool, session_id=session_id, **arguments)
                of_nobody = await call_error(bob, tool, session_id=unknown, **arguments)
                assert of_alice.replace(session_id, "ID") == of_nobody.replace(unknown, "ID")
                assert "Unknown or expired session" in of_alice

        assert await row_counts(tmp_path) == before
        window = await call(alice, "get_session_context", session_id=session_id)
        assert window["totals"]["messages"] == 3
