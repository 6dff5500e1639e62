"""Checkpoint latency through the real server over stdio: save (10 KB state) and restore.

Run: HF_HUB_OFFLINE=1 python -m bench.bench_run_state [--rounds 200]

Floors (issue 4): save_checkpoint p50 <= 15 ms, restore_checkpoint p50 <= 10 ms. Every save
is a durable commit (synchronous=FULL, the default) and prunes the thread to its last 20.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

from bench.common import call, p50, p95, print_table, spawn, timed

THREAD = "bench-thread"
FLOORS_MS = {"save_checkpoint": 15.0, "restore_checkpoint": 10.0}


def state_of(size: int, step: int) -> dict[str, Any]:
    """A realistic agent state of about `size` bytes: ids, paths, short notes."""
    files = [f"src/package_{i // 20}/module_{i}.py" for i in range(400)]
    state: dict[str, Any] = {"step": step, "reviewed": [], "notes": {}}
    index = 0
    while len(json.dumps(state, separators=(",", ":"))) < size:
        path = files[index % len(files)]
        state["reviewed"].append(path)
        state["notes"][f"{path}#{index}"] = f"finding {index}: rename variable, add test"
        index += 1
    return state


async def run(rounds: int, state_bytes: int) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as home:
        async with spawn(Path(home)) as client:
            # Wait for the background model load, so it does not compete for the CPU.
            await call(client, "search_facts", {"query": "warm up"})
            for step in range(5):
                await call(client, "save_checkpoint", {"thread_id": THREAD, "state": state_of(state_bytes, step)})
                await call(client, "restore_checkpoint", {"thread_id": THREAD})

            samples: dict[str, list[float]] = {"save_checkpoint": [], "restore_checkpoint": [], "list_checkpoints": []}
            states = [state_of(state_bytes, step) for step in range(rounds)]
            for step, state in enumerate(states):
                arguments = {"thread_id": THREAD, "state": state, "step": step}
                samples["save_checkpoint"].append(await timed(partial(call, client, "save_checkpoint", arguments)))
            for _ in range(rounds):
                samples["restore_checkpoint"].append(
                    await timed(lambda: call(client, "restore_checkpoint", {"thread_id": THREAD}))
                )
                samples["list_checkpoints"].append(
                    await timed(lambda: call(client, "list_checkpoints", {"thread_id": THREAD}))
                )
            restored = await call(client, "restore_checkpoint", {"thread_id": THREAD})
            assert restored["state"] == states[-1], "the latest state did not round-trip"
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--state-bytes", type=int, default=10_240)
    args = parser.parse_args()

    samples = asyncio.run(run(args.rounds, args.state_bytes))
    rows = []
    failed = []
    for name, values in samples.items():
        floor = FLOORS_MS.get(name)
        verdict = "-" if floor is None else ("ok" if p50(values) <= floor else "FAIL")
        if verdict == "FAIL":
            failed.append(name)
        rows.append([name, len(values), p50(values), p95(values), f"<= {floor:g}" if floor else "-", verdict])
    print_table(
        f"Run state over stdio ({args.state_bytes // 1024} KB state, {args.rounds} rounds, synchronous=FULL)",
        ["operation", "n", "p50 ms", "p95 ms", "floor p50 ms", "verdict"],
        rows,
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
