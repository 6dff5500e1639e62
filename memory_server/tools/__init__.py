"""MCP tool handlers: thin. Validate, call the domain, shape the answer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError

from memory_server.app import Memory
from memory_server.errors import MemoryServerError


def memory_of(ctx: Context) -> Memory:
    memory = ctx.request_context.lifespan_context
    assert isinstance(memory, Memory)
    return memory


@contextmanager
def errors_for_the_model() -> Iterator[None]:
    """Our errors carry a message written for the caller; pass it on as a ToolError."""
    try:
        yield
    except MemoryServerError as error:
        raise ToolError(str(error)) from None
