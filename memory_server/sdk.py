"""The SDK's private parts this server relies on, in one place.

The public API of `MCPServer` covers everything else. Three needs have no public hook:
running the low-level server over a stdin reader of our own (see `stdio`), rewriting the
schemas a tool publishes (see `tools.schemas`), and building a server without the SDK's
logging set-up. `tests/test_sdk.py` fails if an SDK upgrade moves any of them, so the fix is
made here and nowhere else.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mcp.server.lowlevel import Server
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver import server as mcpserver_module
from mcp.server.mcpserver.tools import Tool


def lowlevel(server: MCPServer) -> Server[Any]:
    """`MCPServer.run_stdio_async()` hard-wires the SDK's own stdin reader; this runs without it."""
    return server._lowlevel_server


def registered_tools(server: MCPServer) -> list[Tool]:
    """The tools as registered (their `parameters` and `fn_metadata.output_schema` are what
    `tools/list` publishes), to rewrite before the server runs."""
    return server._tool_manager.list_tools()


@contextmanager
def keeping_our_logging() -> Iterator[None]:
    """`MCPServer()` always calls the SDK's `configure_logging`, which imports rich and builds a
    handler that `logging.basicConfig` then drops when the process has set up logging already
    (ours has: plain lines on stderr). Skipped in that case, it no longer costs every start the
    import of rich (~35 ms of the MCP handshake)."""
    sdk_configure = getattr(mcpserver_module, "configure_logging")  # noqa: B009 (not re-exported)

    def configure_unless_configured(*args: Any, **kwargs: Any) -> None:
        if not logging.getLogger().handlers:
            sdk_configure(*args, **kwargs)

    setattr(mcpserver_module, "configure_logging", configure_unless_configured)  # noqa: B010
    try:
        yield
    finally:
        setattr(mcpserver_module, "configure_logging", sdk_configure)  # noqa: B010
