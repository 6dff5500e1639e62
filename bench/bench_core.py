"""Speed of the core, driven through the real MCP client over stdio.

Prints: spawn → initialized (median of 5) beside a bare MCPServer measured in the same run,
with a key file and with a passphrase (and what the key derivation costs); spawn → first
remember_fact answered (the encoder loads meanwhile); the wall time of `memory-server facts
add`; remember_fact, search_facts and get_user_context p50/p95 at 1k and 10k facts, the
server's peak RSS and database bytes per fact; and the facts per second of `memory-server
import` of an export of the largest size.

    HF_HUB_OFFLINE=1 python -m bench.bench_core [--sizes 1000 10000] [--calls 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mcp import Client, StdioServerParameters

from bench import corpus
from bench.common import ROOT, call, p50, p95, peak_rss_mb, print_table, server_env, server_pid, spawn, timed
from memory_server.app import open_memory
from memory_server.config import Settings
from memory_server.embeddings import Encoder, ReadyEmbedder, load_encoder
from memory_server.memory import text
from memory_server.store import facts as rows

USER = "bench"


PASSPHRASE = {"MEMORY_SERVER_PASSPHRASE": "correct horse battery staple"}


async def handshake_ms(args: list[str], home: Path, env: dict[str, str] | None = None) -> float:
    params = StdioServerParameters(command=sys.executable, args=args, env=server_env(home, env), cwd=str(ROOT))
    started = time.perf_counter()
    async with Client(params, mode="legacy"):
        return (time.perf_counter() - started) * 1000


async def measure_handshake(runs: int) -> dict[str, list[float]]:
    """Bare server; memory-server on its existing database (the usual start) with a key file
    and with a passphrase; and on a new one."""
    found: dict[str, list[float]] = {"bare": [], "key file": [], "passphrase": [], "fresh": []}
    with tempfile.TemporaryDirectory() as keyed, tempfile.TemporaryDirectory() as secret:
        found["fresh"].append(await handshake_ms(["-m", "memory_server"], Path(keyed)))
        await first_remember_ms(Path(secret), PASSPHRASE)  # creates the passphrase database
        for _ in range(runs):
            found["bare"].append(await handshake_ms(["-m", "bench.bare_server"], Path(keyed)))
            found["key file"].append(await handshake_ms(["-m", "memory_server"], Path(keyed)))
            found["passphrase"].append(await handshake_ms(["-m", "memory_server"], Path(secret), PASSPHRASE))
    for _ in range(runs - 1):
        with tempfile.TemporaryDirectory() as directory:
            found["fresh"].append(await handshake_ms(["-m", "memory_server"], Path(directory)))
    return found


def key_derivation_ms(runs: int = 3) -> tuple[float, float]:
    """Opening a database in-process with a key file, and with a passphrase (PBKDF2)."""
    from memory_server.store import connection
    from memory_server.store.database import resolve_key

    timings: dict[str, list[float]] = {"key file": [], "passphrase": []}
    with tempfile.TemporaryDirectory() as keyed, tempfile.TemporaryDirectory() as secret:
        for kind, home, passphrase in [("key file", keyed, None), ("passphrase", secret, PASSPHRASE)]:
            data = {
                "home": home,
                "user": USER,
                **({"passphrase": next(iter(passphrase.values()))} if passphrase else {}),
            }
            settings = Settings.model_validate(data)
            connection.connect(settings.database_path, resolve_key(settings)).close()  # creates it
            for _ in range(runs):
                started = time.perf_counter()
                connection.connect(settings.database_path, resolve_key(settings)).close()
                timings[kind].append((time.perf_counter() - started) * 1000)
    return p50(timings["key file"]), p50(timings["passphrase"])


def cli_ms(home: Path, *args: str) -> float:
    """Wall time of one CLI command, as a person runs it."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "memory_server", *args],
        env=server_env(home),
        cwd=str(ROOT),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return (time.perf_counter() - started) * 1000


async def tool_listing_bytes() -> tuple[int, int]:
    """(what a host shows the model: names, descriptions, input schemas; the whole tools/list)."""
    with tempfile.TemporaryDirectory() as home:
        async with spawn(Path(home)) as client:
            tools = [
                t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in (await client.list_tools()).tools
            ]
    shown = sum(len(t["name"]) + len(t.get("description", "")) + len(json.dumps(t["inputSchema"])) for t in tools)
    return shown, len(json.dumps(tools))


async def first_remember_ms(home: Path | None = None, env: dict[str, str] | None = None) -> float:
    with tempfile.TemporaryDirectory() as directory:
        started = time.perf_counter()
        async with spawn(home or Path(directory), env=env) as client:
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


async def measure_size(count: int, calls: int, encoder: Encoder, max_size: int) -> dict[str, object]:
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
            rss = peak_rss_mb(server_pid(home))
        result |= {
            "rss": rss,
            "remember": remember,
            "search": search,
            "context": context,
            "bytes_per_fact": database_bytes(home) / (count + calls),
        }
        if count == max_size:
            result["import_rate"] = import_rate(home, count + calls)
        return result


def import_rate(home: Path, facts: int) -> float:
    """Facts per second of `memory-server import` of this store's export, into a new store."""
    with tempfile.TemporaryDirectory() as directory:
        exported = Path(directory) / "export.jsonl"
        cli_ms(home, "export", "--out", str(exported))
        return facts / (cli_ms(Path(directory) / "new", "import", str(exported)) / 1000)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--handshakes", type=int, default=5)
    args = parser.parse_args()

    handshakes = await measure_handshake(args.handshakes)
    bare, keyed, secret, fresh = (handshakes[k] for k in ("bare", "key file", "passphrase", "fresh"))
    opened_keyed, opened_secret = key_derivation_ms()
    first = [await first_remember_ms() for _ in range(3)]
    with tempfile.TemporaryDirectory() as home:
        cli_ms(Path(home), "facts", "add", "Warms up the store")
        facts_add = [cli_ms(Path(home), "facts", "add", f"Prefers seat {n}A on trains") for n in range(3)]
    shown, whole = await tool_listing_bytes()
    floor = 1.1 * p50(bare)
    print_table(
        "Start-up (ms)",
        ["measure", "median", "min", "max", "floor"],
        [
            ["bare MCPServer, spawn → initialized", p50(bare), min(bare), max(bare), "-"],
            ["memory-server (key file), spawn → initialized", p50(keyed), min(keyed), max(keyed), f"≤ {floor:.0f}"],
            [
                "memory-server (passphrase), spawn → initialized",
                p50(secret),
                min(secret),
                max(secret),
                f"≤ {floor:.0f}",
            ],
            ["ratio key file / bare", p50(keyed) / p50(bare), "", "", "≤ 1.1"],
            ["ratio passphrase / bare", p50(secret) / p50(bare), "", "", "≤ 1.1"],
            ["memory-server, first start (creates key and database)", p50(fresh), min(fresh), max(fresh), "-"],
            ["memory-server, spawn → first remember_fact", p50(first), min(first), max(first), "≤ 3000"],
            ["`memory-server facts add`, wall", p50(facts_add), min(facts_add), max(facts_add), "≤ 3000"],
            ["open the database in-process: key file", opened_keyed, "", "", "-"],
            ["open the database in-process: passphrase (PBKDF2, off the handshake path)", opened_secret, "", "", "-"],
        ],
    )
    print_table(
        "tools/list size (bytes)",
        ["part", "bytes"],
        [["names + descriptions + input schemas (what the model sees)", shown], ["whole answer", whole]],
    )
    encoder = load_encoder(Settings(user=USER).embeddings, threads=os.cpu_count())
    table = []
    for size in args.sizes:
        measured = await measure_size(size, args.calls, encoder, max(args.sizes))
        remember, search, context = measured["remember"], measured["search"], measured["context"]
        assert isinstance(remember, list) and isinstance(search, list) and isinstance(context, list)
        large = size >= 10_000
        table.append([f"{size:,}", "remember_fact", p50(remember), p95(remember), "p50 ≤ 20" if large else "-"])
        table.append([f"{size:,}", "search_facts", p50(search), p95(search), "p50 ≤ 25" if large else "-"])
        table.append([f"{size:,}", "get_user_context", p50(context), p95(context), "-"])
        table.append([f"{size:,}", "server peak RSS (MB)", measured["rss"], "", "≤ 350" if large else "-"])
        table.append([f"{size:,}", "database bytes per fact", measured["bytes_per_fact"], "", "≤ 4096"])
        if "import_rate" in measured:
            table.append([f"{size:,}", "`memory-server import`, facts/s", measured["import_rate"], "", "≥ 150"])
    print_table("Calls over stdio (ms)", ["facts", "measure", "p50", "p95", "floor"], table)


if __name__ == "__main__":
    asyncio.run(main())
