"""The SDK's private parts this server relies on (memory_server/sdk.py) are still where it
looks for them. If a test here fails after an SDK upgrade, adapt memory_server/sdk.py."""

from __future__ import annotations

import inspect
import logging
import subprocess
import sys
from pathlib import Path

from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server

from memory_server import sdk
from memory_server.server import build_server
from tests.conftest import make_settings


def test_the_low_level_server_still_runs_over_streams_of_our_own(tmp_path: Path) -> None:
    """memory_server/stdio.py runs it as MCPServer.run_stdio_async() does, with its own reader."""
    runner = sdk.lowlevel(build_server(make_settings(tmp_path)))
    assert callable(runner.run) and callable(runner.create_initialization_options)
    assert list(inspect.signature(runner.run).parameters)[:3] == [
        "read_stream",
        "write_stream",
        "initialization_options",
    ]
    assert {"stdin", "stdout"} <= set(inspect.signature(stdio_server).parameters)
    own = inspect.getsource(MCPServer.run_stdio_async)
    assert "stdio_server()" in own and "_lowlevel_server.run(" in own


async def test_the_registered_tools_are_what_tools_list_publishes(tmp_path: Path) -> None:
    server = build_server(make_settings(tmp_path))
    registered = {tool.name: tool for tool in sdk.registered_tools(server)}
    listed = {tool.name: tool for tool in await server.list_tools()}
    assert registered.keys() == listed.keys() and "search_facts" in listed
    for name, tool in registered.items():
        assert listed[name].input_schema == tool.parameters
        assert listed[name].output_schema == tool.fn_metadata.output_schema


def test_a_server_built_where_logging_is_set_up_keeps_it_and_skips_importing_rich(tmp_path: Path) -> None:
    """The SDK's logging set-up imports rich to build a handler basicConfig would drop anyway."""
    script = (
        "import logging, sys; logging.basicConfig(stream=sys.stderr)\n"
        "from mcp.server.mcpserver import server as module\n"
        "from memory_server.server import build_server\n"
        "from memory_server.config import Settings\n"
        "sdk_configure = module.configure_logging\n"
        f"build_server(Settings(user='alice', home={str(tmp_path)!r}))\n"
        "assert module.configure_logging is sdk_configure, 'the SDK function is put back'\n"
        "print(sorted(m for m in ('rich', 'numpy') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", "rich or numpy is imported while the server is built"


def test_without_logging_set_up_the_sdk_still_configures_it() -> None:
    root = logging.getLogger()
    saved, root.handlers = root.handlers, []
    try:
        with sdk.keeping_our_logging():
            MCPServer("bare")
        assert root.handlers, "the SDK's own configure_logging ran"
    finally:
        root.handlers = saved
