"""Shared pieces of the benchmarks: spawn the real server over stdio, time calls, print tables."""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters

from memory_server.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def server_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "MEMORY_SERVER_HOME": str(home),
        "MEMORY_SERVER_USER": "bench",
        "MEMORY_SERVER_LOG_LEVEL": "WARNING",
        # The graph set-up prepared, wherever this HOME is: no spawned server exports the model.
        "MEMORY_SERVER_EMBEDDINGS__CACHE_DIR": str(Settings(user="bench").embeddings.graph_cache.parent),
    }
    env.update(extra or {})
    return env


def server_pid(home: Path) -> int:
    """The pid of our live server child for `home` (the MCP client hides its subprocess)."""
    marker = f"MEMORY_SERVER_HOME={home}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            environ = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if parent == os.getpid() and marker in environ:
            return int(entry.name)
    raise RuntimeError(f"no server process for {home}")


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


@asynccontextmanager
async def spawn(home: Path, *args: str, env: Mapping[str, str] | None = None) -> AsyncIterator[Client]:
    """The real `memory-server` in a subprocess, connected with the official MCP client."""
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "memory_server", *args], env=server_env(home, env), cwd=str(ROOT)
    )
    async with Client(params, mode="legacy") as client:
        yield client


async def call(client: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    if result.is_error:
        raise RuntimeError(f"{tool} failed: {result.content[0].text if result.content else result}")
    return result.structured_content or {}


async def timed(action: Callable[[], Awaitable[Any]]) -> float:
    """Milliseconds one awaited action took."""
    started = time.perf_counter()
    await action()
    return (time.perf_counter() - started) * 1000


def percentile(samples: Sequence[float], fraction: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def p50(samples: Sequence[float]) -> float:
    return statistics.median(samples) if samples else float("nan")


def p95(samples: Sequence[float]) -> float:
    return percentile(samples, 0.95)


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A Markdown table on stdout, so results paste into notes as they are."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [max(len(str(h)), *(len(row[i]) for row in cells)) for i, h in enumerate(header)]
    print(f"\n### {title}\n")
    print("| " + " | ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells:
        print("| " + " | ".join(value.ljust(w) for value, w in zip(row, widths, strict=True)) + " |")
    sys.stdout.flush()


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return str(value)
