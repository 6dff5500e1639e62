"""summarize_session asks the host's model only when the client can sample, and falls back cleanly."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcp import Client, MCPError
from mcp.types import CreateMessageRequestParams, CreateMessageResult, TextContent, TextResourceContents

from memory_server.clock import ManualClock
from memory_server.config import Settings
from memory_server.embeddings import FakeEncoder, ReadyEmbedder
from memory_server.server import build_server
from tests.conftest import make_settings
from tests.conversations import messages
from tests.stdio import call

SAMPLED = "- Priya lives in Lisbon, is allergic to peanuts, and is moving billing to Dagster."


class FakeHostModel:
    """A sampling callback that records what it was asked."""

    def __init__(self) -> None:
        self.prompts: list[str] = []

    async def __call__(self, _ctx: Any, params: CreateMessageRequestParams) -> CreateMessageResult:
        [message] = params.messages
        assert isinstance(message.content, TextContent)
        self.prompts.append(message.content.text)
        return CreateMessageResult(role="assistant", content=TextContent(type="text", text=SAMPLED), model="fake")


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_client_that_can_sample_gets_a_summary_written_by_its_model(
    settings: Settings, clock: ManualClock, mode: str
) -> None:
    host = FakeHostModel()
    server = build_server(settings, embedder=ReadyEmbedder(FakeEncoder()), clock=clock)
    async with Client(server, mode=mode, sampling_callback=host) as client:  # type: ignore[arg-type]
        session_id = (await call(client, "append_messages", messages=messages()))["session_id"]
        done = await call(client, "summarize_session", session_id=session_id)
    assert (done["source"], done["summary"], done["covers_messages"]) == ("sampled", SAMPLED, 40)
    assert "I live in Lisbon" in host.prompts[-1]  # the transcript of the folded turns
    assert "Good luck with the migration" not in host.prompts[-1]  # a kept turn, not folded


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_without_sampling_the_summary_is_made_locally(settings: Settings, clock: ManualClock, mode: str) -> None:
    server = build_server(settings, embedder=ReadyEmbedder(FakeEncoder()), clock=clock)
    async with Client(server, mode=mode) as client:
        session_id = (await call(client, "append_messages", messages=messages()))["session_id"]
        done = await call(client, "summarize_session", session_id=session_id)
    assert done["source"] == "local"
    assert "Lisbon" in done["summary"]


async def test_a_host_summary_wins_and_sampling_can_be_turned_off(tmp_path: Any, clock: ManualClock) -> None:
    host = FakeHostModel()
    settings = make_settings(tmp_path, sessions={"use_sampling": False})
    server = build_server(settings, embedder=ReadyEmbedder(FakeEncoder()), clock=clock)
    async with Client(server, mode="legacy", sampling_callback=host) as client:  # type: ignore[arg-type]
        session_id = (await call(client, "append_messages", messages=messages()))["session_id"]
        given = await call(client, "summarize_session", session_id=session_id, summary="Mine.", keep_recent=20)
        local = await call(client, "summarize_session", session_id=session_id, keep_recent=10)
    assert (given["source"], local["source"]) == ("host", "local")
    assert host.prompts == []


async def test_the_session_resource_shows_the_window_and_refuses_unknown_ids(
    settings: Settings, clock: ManualClock
) -> None:
    server = build_server(settings, embedder=ReadyEmbedder(FakeEncoder()), clock=clock)
    async with Client(server, mode="legacy") as client:
        session_id = (await call(client, "append_messages", messages=messages()[:4]))["session_id"]
        result = await client.read_resource(f"memory://sessions/{session_id}")
        [content] = result.contents
        assert isinstance(content, TextResourceContents)
        assert json.loads(content.text)["totals"]["messages"] == 4
        with pytest.raises(MCPError, match="Unknown or expired session"):
            await client.read_resource("memory://sessions/ses_" + "Q" * 22)
