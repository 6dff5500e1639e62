"""The run-state tools, views and prompt through an in-memory MCP client on a real encrypted file."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from mcp import Client, MCPError
from mcp.types import TextContent, TextResourceContents

from memory_server.app import open_memory
from memory_server.clock import ManualClock
from memory_server.config import Settings
from memory_server.embeddings import FakeEncoder, ReadyEmbedder
from memory_server.server import build_server
from tests.memory.test_tool_calls import start_session
from tests.stdio import call, call_error


@asynccontextmanager
async def connect(settings: Settings, clock: ManualClock) -> AsyncIterator[Client]:
    """The server in-process (a context manager, not a fixture: the client's task group must
    open and close in the test's own task)."""
    server = build_server(settings, embedder=ReadyEmbedder(FakeEncoder()), clock=clock)
    async with Client(server, mode="legacy") as connected:
        yield connected


async def read_json(client: Client, uri: str) -> Any:
    result = await client.read_resource(uri)
    [content] = result.contents
    assert isinstance(content, TextResourceContents)
    return json.loads(content.text)


async def test_checkpoint_tools_save_restore_and_list_a_thread(settings: Settings, clock: ManualClock) -> None:
    async with connect(settings, clock) as client:
        first = await call(client, "save_checkpoint", thread_id="review-7", state={"done": ["a.py"]}, label="a")
        second = await call(client, "save_checkpoint", thread_id="review-7", state='{"done": ["a.py", "b.py"]}')
        assert (first["step"], second["step"], second["parent_id"]) == (1, 2, first["checkpoint_id"])

        restored = await call(client, "restore_checkpoint", thread_id="review-7")
        assert restored["state"] == {"done": ["a.py", "b.py"]}
        assert restored["hash"] == second["hash"]

        listed = await call(client, "list_checkpoints", thread_id="review-7", limit=1)
        assert [c["id"] for c in listed["checkpoints"]] == [second["checkpoint_id"]]
        assert listed["total"] == 2

        view = await read_json(client, "memory://threads/review-7/checkpoints")
        assert [c["step"] for c in view["checkpoints"]] == [2, 1]


async def test_checkpoint_tool_errors_tell_the_model_what_to_do(settings: Settings, clock: ManualClock) -> None:
    async with connect(settings, clock) as client:
        too_big = await call_error(client, "save_checkpoint", thread_id="t-1", state={"raw": "x" * 300_000})
        assert "keep ids, paths, counters and short summaries" in too_big.lower()
        bad_name = await call_error(client, "save_checkpoint", thread_id="no spaces please", state={})
        assert "thread_id" in bad_name
        unknown = await call_error(client, "restore_checkpoint", thread_id="never-saved")
        assert "Unknown thread 'never-saved'" in unknown
        with pytest.raises(MCPError, match="Unknown thread"):
            await client.read_resource("memory://threads/never-saved/checkpoints")


async def test_record_tool_call_feeds_the_session_audit_view(settings: Settings, clock: ManualClock) -> None:
    async with connect(settings, clock) as client:
        async with open_memory(settings, embedder=ReadyEmbedder(FakeEncoder()), clock=clock) as other_connection:
            session = await start_session(other_connection)

        recorded = await call(
            client,
            "record_tool_call",
            session_id=session,
            tool_name="read_file",
            input={"path": "a.py"},
            output="y" * 5_000,
            duration_ms=12.5,
            tokens=300,
            cost_usd=0.0004,
        )
        assert recorded["output_truncated"] is True
        assert recorded["output_length"] == 5_000
        await call(client, "record_tool_call", session_id=session, tool_name="run_tests", status="error")

        audit = await read_json(client, f"memory://sessions/{session}/audit")
        assert audit["totals"]["tool_calls"] == 2
        assert audit["totals"]["errors"] == 1
        assert audit["totals"]["tokens"] == 300
        assert [c["tool_name"] for c in audit["calls"]] == ["read_file", "run_tests"]
        assert len(audit["calls"][0]["output"]) == 2_000

        unknown = await call_error(client, "record_tool_call", session_id="ses_" + "z" * 22, tool_name="x")
        assert "Unknown or expired session" in unknown
        with pytest.raises(MCPError, match="Unknown or expired session"):
            await client.read_resource("memory://sessions/ses_nothing/audit")


async def test_resume_thread_prompt_hands_over_the_latest_state_and_says_continue(
    settings: Settings, clock: ManualClock
) -> None:
    async with connect(settings, clock) as client:
        await call(client, "save_checkpoint", thread_id="review-9", state={"reviewed": 3}, step=3, label="file 3")
        prompt = await client.get_prompt("resume_thread", {"thread_id": "review-9"})
        [message] = prompt.messages
        assert isinstance(message.content, TextContent)
        text = message.content.text
        assert "step 3 (file 3)" in text
        assert '"reviewed": 3' in text
        assert "Continue from step 4" in text

        with pytest.raises(MCPError, match="Unknown thread 'nope'"):
            await client.get_prompt("resume_thread", {"thread_id": "nope"})
