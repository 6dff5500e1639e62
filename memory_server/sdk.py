"""The SDK's private parts this server relies on, in one place.

The public API of `MCPServer` covers everything else. Two needs have no public hook:
running the low-level server over a stdin reader of our own (see `stdio`), and rewriting the
schemas a tool publishes (see `tools.schemas`). `tests/test_sdk.py` fails if an SDK upgrade
moves either, so the fix is made here and nowhere else.
"""

from __future__ import annotations

from typing import Any

from mcp.server.lowlevel import Server
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.tools import Tool


def lowlevel(server: MCPServer) -> Server[Any]:
    """`MCPServer.run_stdio_async()` hard-wires the SDK's own stdin reader; this runs without it."""
    return server._lowlevel_server


def registered_tools(server: MCPServer) -> list[Tool]:
    """The tools as registered (their `parameters` and `fn_metadata.output_schema` are what
    `tools/list` publishes), to rewrite before the server runs."""
    return server._tool_manager.list_tools()
