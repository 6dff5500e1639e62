"""Tools for conversation sessions: append_messages, get_session_context, summarize_session."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field

from memory_server.memory.sessions import (
    AppendResult,
    NewMessage,
    Role,
    SessionContext,
    SummarizeResult,
)
from memory_server.tools import errors_for_the_model, memory_of

SessionId = Annotated[str, Field(min_length=1, max_length=100, description="A session_id from append_messages")]


class MessageIn(BaseModel):
    """One turn of the conversation."""

    role: Role
    content: str
    name: str | None = Field(None, description="Tool name, for role 'tool'")
    tokens: int | None = Field(None, ge=0, description="Tokens of this message; estimated when omitted")
    cost_usd: float | None = Field(None, ge=0, description="What producing it cost, in US dollars")


def register(server: MCPServer) -> None:
    @server.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False))
    async def append_messages(
        messages: list[MessageIn],
        ctx: Context,
        session_id: Annotated[str | None, Field(max_length=100, description="Omit to start a new session")] = None,
        agent_name: Annotated[str | None, Field(max_length=100)] = None,
        ttl_hours: Annotated[float | None, Field(gt=0, description="End the session after this long idle")] = None,
    ) -> AppendResult:
        """Add turns to a conversation session (a new one when session_id is omitted; keep the
        returned id). Answers totals of tokens and cost, and should_summarize when it is time."""
        memory = memory_of(ctx)
        with errors_for_the_model():
            return await memory.sessions.append(
                memory.user_id,
                [NewMessage(m.role, m.content, m.name, m.tokens, m.cost_usd) for m in messages],
                session_id=session_id,
                agent_name=agent_name,
                ttl_hours=ttl_hours,
            )

    @server.tool(annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False))
    async def get_session_context(
        session_id: SessionId,
        ctx: Context,
        max_messages: Annotated[int | None, Field(ge=0, description="Recent messages in full; default 20")] = None,
        max_tokens: Annotated[int | None, Field(ge=1, description="Token limit for the whole answer")] = None,
    ) -> SessionContext:
        """What to send the model for this session: its system messages, the running summary of
        older turns, then the most recent turns in full, within the limits."""
        memory = memory_of(ctx)
        with errors_for_the_model():
            return await memory.sessions.context(
                memory.user_id, session_id, max_messages=max_messages, max_tokens=max_tokens
            )

    @server.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False))
    async def summarize_session(
        session_id: SessionId,
        ctx: Context,
        summary: Annotated[
            str | None,
            Field(
                description="Your summary of everything but the last keep_recent turns, the previous summary "
                "included; omit it and one is made locally"
            ),
        ] = None,
        keep_recent: Annotated[int, Field(ge=0, description="Latest turns kept in full")] = 10,
    ) -> SummarizeResult:
        """Compact a long session: older turns are folded into a summary (yours, or an extractive
        one made locally) and are no longer sent, though they stay stored."""
        memory = memory_of(ctx)
        with errors_for_the_model():
            return await memory.sessions.summarize(memory.user_id, session_id, summary=summary, keep_recent=keep_recent)
