"""An agent loop survives a SIGKILL of its memory server: the real server over stdio, twice."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from tests.stdio import call, server_pids, stdio_client

pytestmark = pytest.mark.e2e

THREAD = "review-123"
FILES = [f"src/module_{i}.py" for i in range(1, 11)]


def review_state(done: int) -> dict[str, Any]:
    """What a code-review agent keeps after reviewing the first `done` files."""
    return {
        "files": FILES,
        "reviewed": FILES[:done],
        "findings": {
            name: [f"{name}: finding {n}" for n in range(index % 3)] for index, name in enumerate(FILES[:done])
        },
        "next_index": done,
    }


def leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    found: list[BaseException] = []
    for error in group.exceptions:
        found += leaves(error) if isinstance(error, BaseExceptionGroup) else [error]
    return found


async def review(
    client: Client, start: int, *, kill_after: int | None = None, home: Path | None = None
) -> list[dict[str, Any]]:
    """The agent loop: review file by file, checkpoint after each. Returns the acknowledgements."""
    acknowledged = []
    for done in range(start, len(FILES) + 1):
        saved = await call(
            client, "save_checkpoint", thread_id=THREAD, state=review_state(done), step=done, label=f"file {done}"
        )
        acknowledged.append(saved)
        if done == kill_after:
            assert home is not None
            [pid] = server_pids(home)
            os.kill(pid, signal.SIGKILL)
            break
    return acknowledged


async def run_until_killed(home: Path, acknowledged: list[dict[str, Any]]) -> None:
    async with stdio_client(home) as client:
        acknowledged += await review(client, 1, kill_after=8, home=home)
        await call(client, "list_checkpoints", thread_id=THREAD)  # the server is gone: this must fail


async def test_a_loop_killed_after_the_8th_checkpoint_resumes_at_file_9_in_a_new_server(tmp_path: Path) -> None:
    first_run: list[dict[str, Any]] = []
    with pytest.raises(ExceptionGroup) as crashed:
        await run_until_killed(tmp_path, first_run)
    assert [str(error) for error in leaves(crashed.value)] == ["Connection closed"]
    assert [ack["step"] for ack in first_run] == list(range(1, 9))
    assert server_pids(tmp_path) == []

    async with stdio_client(tmp_path) as client:
        restored = await call(client, "restore_checkpoint", thread_id=THREAD)
        assert restored["state"] == review_state(8)
        assert restored["hash"] == first_run[-1]["hash"]
        assert restored["checkpoint_id"] == first_run[-1]["checkpoint_id"]

        history = await call(client, "list_checkpoints", thread_id=THREAD)
        checkpoints = history["checkpoints"]
        assert [c["step"] for c in checkpoints] == [8, 7, 6, 5, 4, 3, 2, 1]
        assert [c["id"] for c in checkpoints] == [ack["checkpoint_id"] for ack in reversed(first_run)]
        assert [c["parent_id"] for c in checkpoints] == [c["id"] for c in checkpoints[1:]] + [None]

        second_run = await review(client, restored["state"]["next_index"] + 1)
        assert [ack["step"] for ack in second_run] == [9, 10]
        assert second_run[0]["parent_id"] == restored["checkpoint_id"]
        final = await call(client, "restore_checkpoint", thread_id=THREAD)
        assert final["state"]["reviewed"] == FILES
        assert (await call(client, "list_checkpoints", thread_id=THREAD))["total"] == 10
