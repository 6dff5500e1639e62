"""`memory-server serve --transport http`: streamable HTTP on loopback, behind a bearer token."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from anyio.abc import Process
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from memory_server.errors import ConfigError
from memory_server.http import BearerTokenGuard, load_or_create_token, require_loopback

STARTED = "Application startup complete"


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class RunningServer:
    url: str
    process: Process
    stderr: list[str] = field(default_factory=list)
    stdout: bytes = b""

    def token_from_stderr(self) -> str:
        lines = "".join(self.stderr).splitlines()
        announced = next(i for i, line in enumerate(lines) if "new HTTP bearer token" in line)
        return lines[announced + 1].strip()


@asynccontextmanager
async def http_server(home: Path) -> AsyncIterator[RunningServer]:
    """The real server in a subprocess, yielded once uvicorn reports it is listening."""
    port = free_loopback_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "MEMORY_SERVER_HOME": str(home),
        "MEMORY_SERVER_USER": "alice",
        "MEMORY_SERVER_LOG_LEVEL": "INFO",  # uvicorn's startup line tells us when it listens
        "MEMORY_SERVER_EMBEDDINGS__PRELOAD": "false",
    }
    command = [sys.executable, "-m", "memory_server", "serve", "--transport", "http", "--port", str(port)]
    process = await anyio.open_process(command, env=env, stdin=subprocess.DEVNULL)
    server = RunningServer(url=f"http://127.0.0.1:{port}/mcp", process=process)
    started = anyio.Event()

    async def drain_stderr() -> None:
        assert process.stderr is not None
        async for chunk in process.stderr:
            server.stderr.append(chunk.decode(errors="replace"))
            if STARTED in "".join(server.stderr):
                started.set()

    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(drain_stderr)
            with anyio.fail_after(60):
                await started.wait()
            yield server
            process.terminate()
            with anyio.fail_after(20):
                await process.wait()
            assert process.stdout is not None
            server.stdout = b"".join([chunk async for chunk in process.stdout])
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@pytest.mark.e2e
async def test_with_the_token_the_mcp_client_works_and_without_it_the_server_refuses(tmp_path: Path) -> None:
    async with http_server(tmp_path) as server:
        token = server.token_from_stderr()
        token_file = tmp_path / "http.token"
        assert token_file.read_text().strip() == token
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600

        async with (
            create_mcp_http_client(headers={"Authorization": f"Bearer {token}"}) as http,
            Client(streamable_http_client(server.url, http_client=http), mode="legacy") as client,
        ):
            tools = {tool.name for tool in (await client.list_tools()).tools}
            assert {"remember_fact", "search_facts", "get_user_context"} <= tools
            context = await client.call_tool("get_user_context", {"max_tokens": 100})
            assert not context.is_error
            assert context.structured_content is not None and context.structured_content["facts"] == []

        initialize: dict[str, Any] = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "0"},
            },
        }
        headers = {"Accept": "application/json, text/event-stream"}
        async with httpx2.AsyncClient() as raw:
            missing = await raw.post(server.url, json=initialize, headers=headers)
            wrong = await raw.post(server.url, json=initialize, headers={**headers, "Authorization": "Bearer nope"})
            basic = await raw.post(server.url, json=initialize, headers={**headers, "Authorization": f"Basic {token}"})
            right = await raw.post(server.url, json=initialize, headers={**headers, "Authorization": f"Bearer {token}"})
        assert [missing.status_code, wrong.status_code, basic.status_code] == [401, 401, 401]
        assert missing.headers["www-authenticate"].startswith("Bearer")
        assert right.status_code == 200

        with pytest.raises(BaseExceptionGroup) as refused:
            async with Client(server.url, mode="legacy") as client:
                await client.list_tools()
        assert refused.group_contains(MCPError, depth=None)
        assert any('"POST /mcp HTTP/1.1" 401' in line for line in "".join(server.stderr).splitlines())

    assert server.stdout == b""  # stdout stays clean, even where it is not the protocol
    stderr = "".join(server.stderr)
    assert stderr.count(token) == 1  # printed once, when it was made


@pytest.mark.e2e
async def test_a_second_start_reuses_the_stored_token_and_does_not_print_it(tmp_path: Path) -> None:
    token, created = load_or_create_token(tmp_path / "http.token")
    assert created

    async with (
        http_server(tmp_path) as server,
        create_mcp_http_client(headers={"Authorization": f"Bearer {token}"}) as http,
        Client(streamable_http_client(server.url, http_client=http), mode="legacy") as client,
    ):
        assert (await client.list_tools()).tools
    assert token not in "".join(server.stderr)


# -- the pieces, without a process ------------------------------------------------------------


def test_only_loopback_addresses_are_served() -> None:
    assert require_loopback("127.0.0.1") == "127.0.0.1"
    assert require_loopback("::1") == "::1"
    assert require_loopback("localhost") == "localhost"
    for host in ("0.0.0.0", "192.168.1.10", "::", "example.com"):
        with pytest.raises(ConfigError, match="loopback addresses only"):
            require_loopback(host)


def test_the_token_is_made_once_owner_only_and_then_reused(tmp_path: Path) -> None:
    path = tmp_path / "config" / "http.token"

    first, created = load_or_create_token(path)
    second, created_again = load_or_create_token(path)

    assert (created, created_again) == (True, False)
    assert first == second and len(first) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_token_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "http.token"
    load_or_create_token(path)
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_or_create_token(path)


async def test_the_guard_passes_only_requests_with_the_right_bearer_token() -> None:
    reached: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["type"])

    guard = BearerTokenGuard(app, "s3cret-token")
    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {}

    def http(*headers: tuple[bytes, bytes]) -> dict[str, Any]:
        return {"type": "http", "headers": list(headers)}

    await guard(http((b"authorization", b"Bearer s3cret-token")), receive, send)
    await guard(http((b"Authorization", b"bearer s3cret-token")), receive, send)
    await guard({"type": "lifespan"}, receive, send)
    assert reached == ["http", "http", "lifespan"] and sent == []

    for headers in [(), ((b"authorization", b"Bearer wrong"),), ((b"authorization", b"s3cret-token"),)]:
        await guard(http(*headers), receive, send)
    assert reached == ["http", "http", "lifespan"]
    assert [message["status"] for message in sent if message["type"] == "http.response.start"] == [401, 401, 401]
