"""Start the real `memory-server` as a subprocess and drive it with the official MCP client."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TextIO

from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client as mcp_stdio_client
from mcp.types import CallToolResult

from memory_server.config import Settings

# Every tool of the server: the public API, kept in one place for the tests that sweep them all.
TOOLS = (
    "remember_fact",
    "search_facts",
    "get_user_context",
    "forget_fact",
    "append_messages",
    "get_session_context",
    "summarize_session",
    "save_checkpoint",
    "restore_checkpoint",
    "list_checkpoints",
    "record_tool_call",
)


def graph_cache_dir() -> str:
    """The cache holding the model's graph that set-up prepared; servers with a HOME of their
    own are pointed at it, so none has to export the model again."""
    return str(Settings(user="alice").embeddings.graph_cache.parent)


def server_parameters(home: Path, *args: str, env: Mapping[str, str] | None = None) -> StdioServerParameters:
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "MEMORY_SERVER_HOME": str(home),
        "MEMORY_SERVER_USER": "alice",
        "MEMORY_SERVER_LOG_LEVEL": "WARNING",
        "MEMORY_SERVER_EMBEDDINGS__CACHE_DIR": graph_cache_dir(),
    }
    environment.update(env or {})
    return StdioServerParameters(command=sys.executable, args=["-m", "memory_server", *args], env=environment)


def server_pids(home: Path) -> list[int]:
    """Our live child processes that are memory servers for `home` (the Client hides its subprocess)."""
    marker = f"MEMORY_SERVER_HOME={home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            environ = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if parent == os.getpid() and marker in environ and stat.rsplit(")", 1)[1].split()[0] != "Z":
            found.append(int(entry.name))
    return found


@asynccontextmanager
async def stdio_client(
    home: Path, *args: str, env: Mapping[str, str] | None = None, errlog: TextIO | None = None
) -> AsyncIterator[Client]:
    """A client of a fresh server process; `errlog` (a real file) receives the server's stderr."""
    parameters = server_parameters(home, *args, env=env)
    server = parameters if errlog is None else mcp_stdio_client(parameters, errlog=errlog)
    async with Client(server, mode="legacy") as client:
        yield client


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    """Call a tool that must succeed; return its structured answer."""
    result: CallToolResult = await client.call_tool(tool, arguments)
    assert not result.is_error, f"{tool} failed: {result.content[0].text if result.content else result}"
    assert result.structured_content is not None
    return result.structured_content


async def call_error(client: Client, tool: str, **arguments: Any) -> str:
    """Call a tool that must fail; return the error text the model would read."""
    result: CallToolResult = await client.call_tool(tool, arguments)
    assert result.is_error, f"{tool} unexpectedly succeeded: {result.structured_content}"
    return result.content[0].text  # type: ignore[union-attr]


class RawServer:
    """The real server spawned over stdio and spoken to in raw JSON-RPC lines, for what the
    official client will not send (broken JSON, invalid UTF-8, huge lines)."""

    def __init__(self, home: Path, *args: str, env: Mapping[str, str] | None = None) -> None:
        parameters = server_parameters(home, *args, env=env)
        self.process = subprocess.Popen(
            [parameters.command, *parameters.args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=dict(parameters.env or {}),
        )
        hello = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}
        self.send_json({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": hello})
        assert self.receive(timeout=60)["id"] == 0
        self.send_json({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def send(self, line: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + b"\n")
        self.process.stdin.flush()

    def send_json(self, message: dict[str, Any]) -> None:
        self.send(json.dumps(message).encode())

    def receive(self, timeout: float = 30) -> dict[str, Any]:
        """The next answer; fails (instead of hanging) when none comes within `timeout`."""
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        assert ready, f"no answer within {timeout} s"
        answer: dict[str, Any] = json.loads(self.process.stdout.readline())
        return answer

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


def tool_call_line(request_id: int, tool: str, arguments_json: str) -> bytes:
    """A tools/call request written by hand, so that its arguments may be anything at all."""
    return (
        f'{{"jsonrpc":"2.0","id":{request_id},"method":"tools/call",'
        f'"params":{{"name":"{tool}","arguments":{arguments_json}}}}}'
    ).encode()
