"""get_session_context carries the session's run totals from record_tool_call."""

from __future__ import annotations

from memory_server.clock import ManualClock
from memory_server.config import Settings
from tests.stdio import call
from tests.tools.test_run_state_tools import connect


async def test_the_session_context_reports_tool_calls_errors_tokens_and_cost(
    settings: Settings, clock: ManualClock
) -> None:
    async with connect(settings, clock) as client:
        session = await call(client, "append_messages", messages=[{"role": "user", "content": "Review the PR"}])
        session_id = session["session_id"]
        empty = await call(client, "get_session_context", session_id=session_id)
        assert empty["run"]["tool_calls"] == 0

        await call(client, "record_tool_call", session_id=session_id, tool_name="read_file", tokens=120, cost_usd=0.01)
        clock.advance(seconds=30)
        await call(client, "record_tool_call", session_id=session_id, tool_name="run_tests", status="error", tokens=80)
        run = (await call(client, "get_session_context", session_id=session_id))["run"]
        assert (run["tool_calls"], run["errors"], run["tokens"]) == (2, 1, 200)
        assert run["cost_usd"] == 0.01
        assert run["wall_seconds"] == 30
