"""Tools for run state: save_checkpoint, restore_checkpoint, list_checkpoints, record_tool_call."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations
from pydantic import Field

from memory_server.memory.checkpoints import (
    MAX_STEP,
    THREAD_ID_PATTERN,
    CheckpointHistory,
    NewCheckpoint,
    RestoredCheckpoint,
    SavedCheckpoint,
)
from memory_server.memory.session_rules import MAX_SESSION_ID_CHARS
from memory_server.memory.tool_calls import NewToolCall, RecordedToolCall, ToolStatus
from memory_server.tools import errors_for_the_model, memory_of
from memory_server.tools.users import UserId, acting_user, tool_registrar

ThreadId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=512,
        pattern=THREAD_ID_PATTERN,
        description="Your name for the task, e.g. review-123 (letters, digits, . _ -)",
    ),
]
CheckpointId = Annotated[int, Field(ge=1, description="A checkpoint id from an earlier answer")]
SessionId = Annotated[str, Field(min_length=1, max_length=MAX_SESSION_ID_CHARS, description="A session id")]
JsonOrText = str | dict[str, Any] | list[Any]


def register(server: MCPServer, *, multi_user: bool = False) -> None:
    tool = tool_registrar(server, multi_user=multi_user)

    @tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False))
    async def save_checkpoint(
        thread_id: ThreadId,
        state: Annotated[
            dict[str, Any],
            Field(description="JSON object to resume from: ids, progress, short summaries, not raw data"),
        ],
        ctx: Context,
        step: Annotated[int | None, Field(ge=0, le=MAX_STEP, description="Default: parent's step + 1")] = None,
        label: Annotated[str | None, Field(description="Short name, e.g. 'file 8 reviewed'")] = None,
        session_id: SessionId | None = None,
        parent_id: Annotated[int | None, Field(ge=1, description="Branch from this older checkpoint")] = None,
        user_id: UserId | None = None,
    ) -> SavedCheckpoint:
        """Save an immutable snapshot of a task's state after each step, so the task can resume
        after a crash with restore_checkpoint. The parent is the thread's latest checkpoint."""
        memory = await memory_of(ctx)
        user = acting_user(ctx, user_id)
        with errors_for_the_model():
            return await memory.checkpoints.save(
                user,
                NewCheckpoint(
                    thread_id=thread_id,
                    state=state,
                    step=step,
                    label=label,
                    session_id=session_id,
                    parent_id=parent_id,
                ),
            )

    @tool(annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False))
    async def restore_checkpoint(
        thread_id: ThreadId, ctx: Context, checkpoint_id: CheckpointId | None = None, user_id: UserId | None = None
    ) -> RestoredCheckpoint:
        """The state of a thread's latest checkpoint (or the one named), verified against its hash.
        Continue the task from its step."""
        memory = await memory_of(ctx)
        user = acting_user(ctx, user_id)
        with errors_for_the_model():
            return await memory.checkpoints.restore(user, thread_id, checkpoint_id)

    @tool(annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False))
    async def list_checkpoints(
        thread_id: ThreadId,
        ctx: Context,
        limit: Annotated[int, Field(ge=1, le=100)] = 20,
        user_id: UserId | None = None,
    ) -> CheckpointHistory:
        """A thread's checkpoints, newest first: id, parent, step, label, time, size."""
        memory = await memory_of(ctx)
        user = acting_user(ctx, user_id)
        with errors_for_the_model():
            return await memory.checkpoints.history(user, thread_id, limit=limit)

    @tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False))
    async def record_tool_call(
        session_id: SessionId,
        tool_name: Annotated[str, Field(min_length=1, max_length=512)],
        ctx: Context,
        input: JsonOrText | None = None,
        output: Annotated[JsonOrText | None, Field(description="Long outputs are kept as head, length, hash")] = None,
        status: ToolStatus = "ok",
        duration_ms: Annotated[float | None, Field(ge=0)] = None,
        tokens: Annotated[int | None, Field(ge=0)] = None,
        cost_usd: Annotated[float | None, Field(ge=0)] = None,
        user_id: UserId | None = None,
    ) -> RecordedToolCall:
        """Add a tool call to a session's audit log; answers with the session's run totals."""
        memory = await memory_of(ctx)
        user = acting_user(ctx, user_id)
        with errors_for_the_model():
            return await memory.tool_calls.record(
                user,
                NewToolCall(
                    session_id=session_id,
                    tool_name=tool_name,
                    input=input,
                    output=output,
                    status=status,
                    duration_ms=duration_ms,
                    tokens=tokens,
                    cost_usd=cost_usd,
                ),
            )
