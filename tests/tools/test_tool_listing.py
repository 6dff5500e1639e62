"""The tool listing is cheap on the host's context window."""

from __future__ import annotations

import json

from memory_server.clock import ManualClock
from memory_server.config import Settings
from tests.tools.test_run_state_tools import connect


async def test_tool_descriptions_are_single_spaced_and_schemas_carry_no_generated_titles(
    settings: Settings, clock: ManualClock
) -> None:
    async with connect(settings, clock) as client:
        tools = (await client.list_tools()).tools
    for tool in tools:
        assert tool.description and "  " not in tool.description and "\n" not in tool.description
        assert '"title"' not in json.dumps(tool.input_schema), tool.name


async def test_validation_still_uses_the_full_argument_models(settings: Settings, clock: ManualClock) -> None:
    async with connect(settings, clock) as client:
        result = await client.call_tool("remember_fact", {"content": "Likes tea", "importance": 7})
    assert result.is_error
    assert "importance must be a number from 0 to 1" in result.content[0].text  # type: ignore[union-attr]


async def test_answers_carry_their_structured_content_as_compact_text(settings: Settings, clock: ManualClock) -> None:
    async with connect(settings, clock) as client:
        await client.call_tool("save_checkpoint", {"thread_id": "review", "state": {"note": "café"}})
        result = await client.call_tool("restore_checkpoint", {"thread_id": "review"})
    text = result.content[0].text  # type: ignore[union-attr]
    assert not result.is_error
    assert json.loads(text) == result.structured_content
    assert "\n" not in text and ": " not in text and "café" in text
