"""Session latency through the real server over stdio.

Run: HF_HUB_OFFLINE=1 python -m bench.bench_sessions [--rounds 200]

Measures append_messages (one message per call) p50/p95, get_session_context p50 on a
1,000-message session (default window of 20), and summarize_session of 200 messages without a
host summary (the local extractive summarizer, with the real model).
Floors (issue 3): append_messages p50 <= 15 ms; get_session_context p50 <= 20 ms.
Every append is a durable commit (synchronous=FULL, the default).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

from bench.common import call, p50, p95, print_table, spawn, timed

FLOORS_MS = {"append_messages": 15.0, "get_session_context": 20.0}

SUBJECTS = ["The billing job", "Our dashboard", "The Redis cache", "The cutover plan", "The finance team", "My sister"]
VERBS = ["needs", "should get", "was given", "depends on", "will move to", "asked for"]
OBJECTS = ["a retry policy", "a new owner", "Thursday's deploy", "the March budget", "a peanut-free menu", "more tests"]
DETAILS = ["before the quarter close", "after lunch", "in Lisbon", "next sprint", "if the API times out", "by Friday"]


def conversation(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """Varied, realistic turns: each is two sentences built from a small vocabulary."""
    rng = random.Random(seed)
    turns = []
    for index in range(count):
        sentences = [
            f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(DETAILS)}." for _ in range(2)
        ]
        turns.append({"role": "user" if index % 2 == 0 else "assistant", "content": " ".join(sentences)})
    return turns


async def run(rounds: int) -> tuple[dict[str, list[float]], dict[str, float]]:
    samples: dict[str, list[float]] = {"append_messages": [], "get_session_context": []}
    once: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as home:
        async with spawn(Path(home)) as client:
            # Wait for the background model load, so it does not compete for the CPU.
            await call(client, "search_facts", {"query": "warm up"})

            turns = conversation(rounds)
            first = await call(client, "append_messages", {"messages": turns[:1]})
            session_id = first["session_id"]
            for turn in turns[1:]:
                arguments = {"session_id": session_id, "messages": [turn]}
                samples["append_messages"].append(await timed(partial(call, client, "append_messages", arguments)))

            # A 1,000-message session, filled in batches.
            big = (await call(client, "append_messages", {"messages": conversation(100, seed=1)}))["session_id"]
            for batch in range(1, 10):
                await call(
                    client, "append_messages", {"session_id": big, "messages": conversation(100, seed=batch + 1)}
                )
            for _ in range(rounds):
                samples["get_session_context"].append(
                    await timed(lambda: call(client, "get_session_context", {"session_id": big}))
                )
            window = await call(client, "get_session_context", {"session_id": big})
            assert window["totals"]["messages"] == 1_000
            assert len(window["messages"]) == 20

            # Summarize 200 messages locally (no host summary).
            long = (await call(client, "append_messages", {"messages": conversation(200, seed=99)}))["session_id"]
            started = time.perf_counter()
            done = await call(client, "summarize_session", {"session_id": long, "keep_recent": 0})
            once["summarize_session (200 messages, local)"] = (time.perf_counter() - started) * 1000
            assert done["source"] == "local"
            assert done["covers_messages"] == 200
            once["summary_tokens"] = done["tokens_after"]
            once["message_tokens"] = done["tokens_before"]
    return samples, once


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()

    samples, once = asyncio.run(run(args.rounds))
    rows: list[list[Any]] = []
    failed = []
    for name, values in samples.items():
        floor = FLOORS_MS[name]
        verdict = "ok" if p50(values) <= floor else "FAIL"
        if verdict == "FAIL":
            failed.append(name)
        label = name if name == "append_messages" else f"{name} (1,000-message session)"
        rows.append([label, len(values), p50(values), p95(values), f"<= {floor:g}", verdict])
    summarize = "summarize_session (200 messages, local)"
    rows.append([summarize, 1, once[summarize], "-", "-", "-"])
    print_table(
        f"Sessions over stdio ({args.rounds} rounds, synchronous=FULL)",
        ["operation", "n", "p50 ms", "p95 ms", "floor p50 ms", "verdict"],
        rows,
    )
    print(f"\nLocal summary: {once['summary_tokens']:.0f} tokens for {once['message_tokens']:.0f} tokens of messages.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
