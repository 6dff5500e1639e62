"""Speed of the core, driven through the real MCP client over stdio.

Prints: spawn → initialized (median of 5) beside a bare MCPServer measured in the same run,
spawn → first remember_fact answered (the model loads meanwhile), remember_fact and
search_facts p50/p95 at 1k and 10k facts, get_user_context p50 at 10k, and database bytes
per fact.

    HF_HUB_OFFLINE=1 python -m bench.bench_core [--sizes 1000 10000] [--calls 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from mcp import Client, StdioServerParameters

from bench import corpus
from bench.common import ROOT, call, p50, p95, print_table, server_env, spawn, timed
from memory_server.app import open_memory
from memory_server.config import Settings
from memory_server.embeddings import Encoder, ReadyEmbedder, load_encoder
from memory_server.memory import text
from memory_server.store import facts as rows

USER = "bench"


async def handshake_ms(args: list[str], home: Path) -> float:
    params = StdioServerParameters(command=sys.executable, args=args, env=server_env(home), cwd=str(ROOT))
    started = time.perf_counter()
    async with Client(params, mode="legacy"):
        return (time.perf_counter() - started) * 1000


async def measure_handshake(runs: int) -> tuple[list[float], list[float], list[float]]:
    """Bare server, memory-server on its existing database (the usual start), and on a new one."""
    bare, ours, fresh = [], [], []
    with tempfile.TemporaryDirectory() as directory:
        home = Path(directory)
        fresh.append(await handshake_ms(["-m", "memory_server"], home))
        for _ in range(runs):
            bare.append(await handshake_ms(["-m", "bench.bare_server"], home))
            ours.append(await handshake_ms(["-m", "memory_server"], home))
    for _ in range(runs - 1):
        with tempfile.TemporaryDirectory() as directory:
            fresh.append(await handshake_ms(["-m", "memory_server"], Path(directory)))
    return bare, ours, fresh


async def tool_listing_bytes() -> tuple[int, int]:
    """(what a host shows the model: names, descriptions, input schemas; the whole tools/list)."""
    with tempfile.TemporaryDirectory() as home:
        async with spawn(Path(home)) as client:
            tools = [
                t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in (await client.list_tools()).tools
            ]
    shown = sum(len(t["name"]) + len(t.get("description", "")) + len(json.dumps(t["inputSchema"])) for t in tools)
    return shown, len(json.dumps(tools))


async def first_remember_ms() -> float:
    with tempfile.TemporaryDirectory() as home:
        started = time.perf_counter()
        async with spawn(Path(home)) as client:
            await call(client, "remember_fact", {"content": "Prefers tea in the afternoon"})
            return (time.perf_counter() - started) * 1000


async def fill(home: Path, count: int, encoder: Encoder) -> None:
    """Write `count` facts straight through the store (batch-embedded) so the bench starts fast."""
    contents = corpus.facts(count)
    vectors = encoder.encode(contents)
    settings = Settings.model_validate({"home": home, "user": USER, "store": {"synchronous": "NORMAL"}})
    async with open_memory(settings, embedder=ReadyEmbedder(encoder)) as memory:
        for start in range(0, count, 500):
            async with memory.db.write() as conn:
                now = memory.db.clock()
                for content, vector in zip(contents[start : start + 500], vectors[start : start + 500], strict=True):
                    await rows.insert_fact(
                        conn,
                        user_id=USER,
                        content=content,
                        key=text.content_key(content),
                        category=None,
                        tags=[],
                        importance=0.5,
                        now=now,
                        expires_at=None,
                        supersedes=None,
                        source_session=None,
                        vector=vector,
                    )


async def wait_for_model(client: Client) -> None:
    while True:
        status = json.loads((await client.read_resource("memory://status")).contents[0].text)  # type: ignore[union-attr]
        if status["model_state"] == "ready":
            return
        if status["model_state"] == "failed":
            raise RuntimeError("model failed to load")
        await asyncio.sleep(0.2)


def database_bytes(home: Path) -> int:
    return sum(p.stat().st_size for p in home.glob("memory.db*"))


async def measure_size(count: int, calls: int, encoder: Encoder) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as directory:
        home = Path(directory)
        await fill(home, count, encoder)
        result: dict[str, object] = {"facts": count}
        new_facts = corpus.facts(count + calls, seed=99)[-calls:]
        questions = corpus.queries(calls)
        async with spawn(home) as client:
            await wait_for_model(client)
            await call(client, "search_facts", {"query": "warm up"})
            remember = [await timed(lambda f=f: call(client, "remember_fact", {"content": f})) for f in new_facts]
            search = [await timed(lambda q=q: call(client, "search_facts", {"query": q})) for q in questions]
            context = [await timed(lambda: call(client, "get_user_context", {})) for _ in range(max(10, calls // 4))]
        result |= {
            "remember": remember,
            "search": search,
            "context": context,
            "bytes_per_fact": database_bytes(home) / (count + calls),
        }
        return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--handshakes", type=int, default=5)
    args = parser.parse_args()

    bare, ours, fresh = await measure_handshake(args.handshakes)
    first = [await first_remember_ms() for _ in range(3)]
    shown, whole = await tool_listing_bytes()
    print_table(
        "Start-up (ms)",
        ["measure", "median", "min", "max", "floor"],
        [
            ["bare MCPServer, spawn → initialized", p50(bare), min(bare), max(bare), "-"],
            ["memory-server, spawn → initialized", p50(ours), min(ours), max(ours), f"≤ {1.2 * p50(bare):.0f} (1.2×)"],
            ["ratio memory-server / bare", statistics.median(ours) / statistics.median(bare), "", "", "≤ 1.2"],
            ["memory-server, first start (creates key and database)", p50(fresh), min(fresh), max(fresh), "-"],
            ["memory-server, spawn → first remember_fact", p50(first), min(first), max(first), "-"],
        ],
    )
    print_table(
        "tools/list size (bytes)",
        ["part", "bytes"],
        [["names + descriptions + input schemas (what the model sees)", shown], ["whole answer", whole]],
    )
    encoder = load_encoder(Settings(user=USER).embeddings)
    table = []
    for size in args.sizes:
        measured = await measure_size(size, args.calls, encoder)
        remember, search, context = measured["remember"], measured["search"], measured["context"]
        assert isinstance(remember, list) and isinstance(search, list) and isinstance(context, list)
        table.append([f"{size:,}", "remember_fact", p50(remember), p95(remember), "p50 ≤ 40"])
        table.append([f"{size:,}", "search_facts", p50(search), p95(search), "p50 ≤ 40" if size >= 10_000 else "-"])
        table.append([f"{size:,}", "get_user_context", p50(context), p95(context), "-"])
        table.append([f"{size:,}", "database bytes per fact", measured["bytes_per_fact"], "", "≤ 4096"])
    print_table("Calls over stdio (ms)", ["facts", "measure", "p50", "p95", "floor"], table)


if __name__ == "__main__":
    asyncio.run(main())
