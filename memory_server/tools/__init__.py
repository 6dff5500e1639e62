"""MCP tool handlers: thin. Validate, call the domain, shape the answer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError, ToolError

from memory_server.app import Memory, OpeningMemory
from memory_server.errors import MemoryServerError


def opening_of(ctx: Context) -> OpeningMemory:
    opening = ctx.request_context.lifespan_context
    assert isinstance(opening, OpeningMemory)
    return opening


async def memory_of(ctx: Context) -> Memory:
    """The open memory; waits while it opens, or says why it could not be opened."""
    with errors_for_the_model():
        return await opening_of(ctx).memory()


@contextmanager
def errors_for_the_model() -> Iterator[None]:
    """Our errors carry a message written for the caller; pass it on as a ToolError."""
    try:
        yield
    except MemoryServerError as error:
        raise ToolError(str(error)) from None


async def view_memory(opening: OpeningMemory) -> Memory:
    """For resources and prompts: the open memory, or a ResourceError that says why not."""
    try:
        return await opening.memory()
    except MemoryServerError as error:
        raise ResourceError(str(error)) from None
