"""The stdin screen in process: what it passes to the SDK, what it answers itself, and the
SDK seam it depends on."""

from __future__ import annotations

import inspect
from pathlib import Path

from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server

from memory_server import stdio
from memory_server.server import build_server
from memory_server.stdio import Refusal, envelope, nesting_depth, screen
from tests.conftest import make_settings


def test_the_sdk_still_offers_the_seam_the_stdio_reader_runs_on(tmp_path: Path) -> None:
    """If this fails after an SDK upgrade, memory_server/stdio.py must be adapted: it runs the
    low-level server over streams of its own, as MCPServer.run_stdio_async() does."""
    server = build_server(make_settings(tmp_path))
    runner = stdio.lowlevel(server)
    assert callable(runner.run) and callable(runner.create_initialization_options)
    assert list(inspect.signature(runner.run).parameters)[:3] == [
        "read_stream",
        "write_stream",
        "initialization_options",
    ]
    assert {"stdin", "stdout"} <= set(inspect.signature(stdio_server).parameters)
    own = inspect.getsource(MCPServer.run_stdio_async)
    assert "stdio_server()" in own and "_lowlevel_server.run(" in own


def test_a_line_the_sdk_parses_passes_unchanged() -> None:
    line = '{"jsonrpc":"2.0","id":3,"method":"tools/list"}'
    assert screen(line.encode()) == line


def test_the_id_and_method_are_found_in_a_line_too_deep_or_broken_to_parse() -> None:
    deep = '{"jsonrpc":"2.0","id":"x-1","method":"tools/call","params":' + '{"a":' * 5000
    assert envelope(deep) == ("x-1", "tools/call")
    assert envelope('{"params":{"id":5,"method":"no"},"method":"ping","id":9}') == (9, "ping")
    assert envelope('[{"id": 1}]') == (None, None)
    assert envelope('{"id": true, "method": 3}') == (None, None)
    assert nesting_depth('{"a":"{{{{","b":[[1]]}') == 3


def test_an_answer_to_a_tool_call_is_a_tool_error_and_to_anything_else_a_json_rpc_error() -> None:
    refused = screen(b'{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"x","arguments":{"a":"\xff"}}}')
    assert isinstance(refused, Refusal)
    assert refused.message()["result"]["isError"] is True and refused.message()["id"] == 4
    other = screen(b'{"jsonrpc":"2.0","id":5,"method":"ping","params":{"a":"\xff"}}')
    assert isinstance(other, Refusal) and other.message()["error"]["code"] == stdio.PARSE_ERROR
    unknown = screen(b'{"jsonrpc":"1.0","id":6}')
    assert isinstance(unknown, Refusal) and unknown.message()["error"]["code"] == stdio.INVALID_REQUEST
