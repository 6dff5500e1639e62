"""Soak: several real servers on one file, concurrent writes, and SIGKILLs at random moments.

Run: HF_HUB_OFFLINE=1 python -m bench.soak --seconds 60

Two phases share the time. Concurrency: 4 servers on one database, each sent 50 concurrent
writes per round (save_checkpoint, append_messages, and remember_fact unless --no-model).
Kill loop: 2 lanes on that same database, each starting a server, writing from 3 concurrent
writers and killing the server with SIGKILL after a random number of acknowledgements, again
and again. Afterwards every acknowledged write is looked up through a fresh connection:
acknowledged, found and lost (must be 0) per tool, and `PRAGMA integrity_check`.
The tests (tests/e2e/test_kill_loop_stdio.py) run the same loops, shorter.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

from bench.common import print_table, spawn
from memory_server.config import Settings
from memory_server.store import Database

LANE_MARKER = "MEMORY_SOAK_LANE"
# Servers that only live a second or two: never start loading the model, keep every checkpoint.
KILL_ENV = {"MEMORY_SERVER_EMBEDDINGS__PRELOAD": "false", "MEMORY_SERVER_CHECKPOINTS__KEEP_PER_THREAD": "10000"}
CONCURRENCY_ENV = {
    "MEMORY_SERVER_EMBEDDINGS__THREADS": "1",
    "MEMORY_SERVER_FACTS__DUPLICATE_SIMILARITY": "1.0",  # distinct facts never merge
    "MEMORY_SERVER_CHECKPOINTS__KEEP_PER_THREAD": "10000",
}


@dataclass
class Ledger:
    """Every write a server acknowledged, and every answer that was an error."""

    checkpoints: dict[int, str] = field(default_factory=dict)  # id -> state hash
    messages: dict[int, str] = field(default_factory=dict)  # id -> content
    facts: dict[int, str] = field(default_factory=dict)  # id -> content
    sessions: dict[str, str] = field(default_factory=dict)  # writer -> its session id
    errors: list[str] = field(default_factory=list)  # tool errors: must stay empty
    disconnects: list[str] = field(default_factory=list)  # what a killed server's caller saw
    kills: int = 0
    rounds: int = 0

    def record(self, tool: str, answer: dict[str, Any], content: str | None = None) -> None:
        if tool == "save_checkpoint":
            self.checkpoints[answer["checkpoint_id"]] = answer["hash"]
        elif tool == "append_messages":
            assert content is not None
            [message_id] = answer["message_ids"]
            self.messages[message_id] = content
        elif tool == "remember_fact":
            self.facts[answer["fact_id"]] = answer["fact"]["content"]


@dataclass(frozen=True)
class Count:
    tool: str
    acknowledged: int
    found: int

    @property
    def lost(self) -> int:
        return self.acknowledged - self.found


def settings_for(home: Path) -> Settings:
    return Settings.model_validate({"home": home, "user": "bench"})


def server_pid(home: Path, marker: str) -> int | None:
    """Our child process serving `home` whose environment holds `marker` (the Client hides it)."""
    wanted = {f"MEMORY_SERVER_HOME={home}".encode(), marker.encode()}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            environ = set((entry / "environ").read_bytes().split(b"\0"))
        except (OSError, IndexError):
            continue
        if int(stat[1]) == os.getpid() and stat[0] != "Z" and wanted <= environ:
            return int(entry.name)
    return None


async def write(client: Client, ledger: Ledger, tool: str, arguments: dict[str, Any], content: str = "") -> bool:
    """One call; its acknowledgement goes in the ledger. False when the tool answered an error."""
    result = await client.call_tool(tool, arguments)
    if result.is_error:
        ledger.errors.append(f"{tool}: {result.content[0].text if result.content else result}")  # type: ignore[union-attr]
        return False
    answer = result.structured_content or {}
    if tool == "append_messages" and "session_id" not in arguments:
        ledger.sessions[content.split(":")[0]] = answer["session_id"]
    ledger.record(tool, answer, content)
    return True


async def append(client: Client, ledger: Ledger, writer: str, n: int) -> bool:
    content = f"{writer}: message {n}"
    arguments: dict[str, Any] = {"messages": [{"role": "user", "content": content}]}
    if writer in ledger.sessions:
        arguments["session_id"] = ledger.sessions[writer]
    return await write(client, ledger, "append_messages", arguments, content)


async def checkpoint(client: Client, ledger: Ledger, writer: str, n: int) -> bool:
    return await write(client, ledger, "save_checkpoint", {"thread_id": writer, "state": {"writer": writer, "n": n}})


# -- the kill loop ------------------------------------------------------------------------


async def kill_round(home: Path, ledger: Ledger, lane: int, rng: random.Random, extra_env: Mapping[str, str]) -> None:
    """Start a server, write from 3 writers at once, SIGKILL it after a random number of acks."""
    marker = f"{LANE_MARKER}={lane}"
    kill_after = rng.randint(1, 12)
    acknowledged = 0
    killed = False

    async def writer(client: Client, name: str, kind: str) -> None:
        nonlocal acknowledged, killed
        for n in range(10_000):
            ok = await (append if kind == "append" else checkpoint)(client, ledger, name, n)
            if not ok:
                continue
            acknowledged += 1
            if acknowledged >= kill_after and not killed:
                pid = server_pid(home, marker)
                assert pid is not None, "the server process was not found"
                os.kill(pid, signal.SIGKILL)
                killed = True
                ledger.kills += 1

    env = {**KILL_ENV, **extra_env, LANE_MARKER: str(lane)}
    try:
        async with spawn(home, env=env) as client, anyio.create_task_group() as group:
            for index, kind in enumerate(("checkpoint", "checkpoint", "append")):
                group.start_soon(writer, client, f"lane{lane}-{kind}{index}", kind)
    except Exception as error:  # the killed server's calls in flight fail; record what they saw
        if not killed:
            raise
        ledger.disconnects.extend(f"{type(leaf).__name__}: {leaf}" for leaf in leaves(error))
    ledger.rounds += 1


def leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in leaves(inner)]
    return [error]


async def kill_loop(
    home: Path,
    ledger: Ledger,
    *,
    lanes: int = 2,
    kills: int | None = None,
    until: float | None = None,
    seed: int = 5,
    extra_env: Mapping[str, str] | None = None,
) -> None:
    """Each lane kills its server `kills` times, or until the monotonic time `until`."""

    async def lane(index: int) -> None:
        rng = random.Random(seed * 100 + index)
        done = 0
        while (kills is None or done < kills) and (until is None or time.monotonic() < until):
            await kill_round(home, ledger, index, rng, extra_env or {})
            done += 1

    async with anyio.create_task_group() as group:
        for index in range(lanes):
            group.start_soon(lane, index)


# -- the concurrency loop -----------------------------------------------------------------


async def concurrency_loop(
    home: Path, ledger: Ledger, *, servers: int = 4, calls: int = 50, until: float, with_model: bool = True
) -> None:
    """Rounds of `calls` concurrent writes on each of `servers` servers sharing `home`."""
    clients: list[Client] = []
    ready, stop = anyio.Event(), anyio.Event()

    async def serve_one() -> None:
        async with spawn(home, env=CONCURRENCY_ENV) as client:
            clients.append(client)
            if len(clients) == servers:
                ready.set()
            await stop.wait()

    async def one(client: Client, server: int, round_: int, n: int) -> None:
        name = f"conc-s{server}-r{round_}-{n}"
        if n % 3 == 0:
            await checkpoint(client, ledger, f"conc-s{server}-r{round_}", n)
        elif n % 3 == 1 or not with_model:
            await append(client, ledger, f"conc-s{server}-{n % 5}", round_ * calls + n)
        else:
            content = f"Soak fact {name}: the user filed receipt {round_ * 100_000 + server * 1000 + n}"
            await write(client, ledger, "remember_fact", {"content": content}, content)

    async with anyio.create_task_group() as owners:
        for _ in range(servers):
            owners.start_soon(serve_one)
        await ready.wait()
        round_ = 0
        while time.monotonic() < until:
            async with anyio.create_task_group() as group:
                for server, client in enumerate(clients):
                    for n in range(calls):
                        group.start_soon(one, client, server, round_, n)
            round_ += 1
            ledger.rounds += 1
        stop.set()


# -- checking -----------------------------------------------------------------------------


async def verify(home: Path, ledger: Ledger) -> tuple[list[Count], str]:
    """Look every acknowledged write up through a fresh connection; and the integrity check."""
    async with Database.open(settings_for(home)) as db, db.read() as conn:
        checkpoints = {row[0]: row[1] for row in await db.fetchall(conn, "SELECT id, hash FROM checkpoints")}
        messages = {row[0]: row[1] for row in await db.fetchall(conn, "SELECT id, content FROM messages")}
        facts = {row[0]: row[1] for row in await db.fetchall(conn, "SELECT id, content FROM facts")}
        integrity = ", ".join(str(row[0]) for row in await db.fetchall(conn, "PRAGMA integrity_check"))
    counts = [
        Count(tool, len(acked), sum(1 for key, value in acked.items() if stored.get(key) == value))
        for tool, acked, stored in (
            ("save_checkpoint", ledger.checkpoints, checkpoints),
            ("append_messages", ledger.messages, messages),
            ("remember_fact", ledger.facts, facts),
        )
    ]
    return counts, integrity


async def soak(seconds: float, with_model: bool) -> int:
    failed = False
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        rows = []
        phases = (("concurrency (4 servers)", seconds / 2), ("kill loop (2 lanes)", seconds / 2))
        for phase, length in phases:
            ledger = Ledger()
            started = time.monotonic()
            if phase.startswith("concurrency"):
                await concurrency_loop(home, ledger, until=started + length, with_model=with_model)
            else:
                await kill_loop(home, ledger, until=started + length)
            elapsed = time.monotonic() - started
            counts, integrity = await verify(home, ledger)
            for count in counts:
                if count.acknowledged:
                    rows.append(
                        [
                            *(phase, count.tool, count.acknowledged, count.found, count.lost, len(ledger.errors)),
                            *(ledger.kills, ledger.rounds, f"{elapsed:.0f}", integrity),
                        ]
                    )
            failed |= any(c.lost for c in counts) or bool(ledger.errors) or integrity != "ok"
            for error in ledger.errors[:5]:
                print(f"tool error in {phase}: {error}", file=sys.stderr)
        print_table(
            f"Soak: {seconds:g} s, one database, writes acknowledged vs found after the runs",
            ["phase", "tool", "acknowledged", "found", "lost", "tool errors", "kills", "rounds", "s", "integrity"],
            rows,
        )
    print("\nverdict:", "FAIL" if failed else "ok (0 lost, 0 tool errors, integrity ok)")
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="Total time of both phases")
    parser.add_argument("--no-model", action="store_true", help="Leave remember_fact out (no model load)")
    args = parser.parse_args()
    return asyncio.run(soak(args.seconds, with_model=not args.no_model))


if __name__ == "__main__":
    sys.exit(main())
