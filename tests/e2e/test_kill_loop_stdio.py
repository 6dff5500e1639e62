"""SIGKILL the real server at random moments of a write loop, 30 times: every acknowledged
write survives, the database opens and passes `PRAGMA integrity_check`.

Two lanes run at once on one database, so a server is often killed while holding the write
lock (or in the middle of a transaction) while another process keeps writing. The loop is
bench/soak.py's; `python -m bench.soak` runs it longer.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.common import spawn
from bench.soak import Ledger, kill_loop, verify
from tests.stdio import call

pytestmark = pytest.mark.e2e

LANES = 2
KILLS_PER_LANE = 15


async def test_30_random_sigkills_during_concurrent_writes_lose_no_acknowledged_write(tmp_path: Path) -> None:
    ledger = Ledger()
    await kill_loop(tmp_path, ledger, lanes=LANES, kills=KILLS_PER_LANE, seed=1)

    assert ledger.kills == LANES * KILLS_PER_LANE
    assert ledger.errors == []
    # What a caller of a killed server sees: the connection closed, nothing else.
    assert set(ledger.disconnects) <= {"MCPError: Connection closed"}
    assert len(ledger.checkpoints) > ledger.kills
    assert len(ledger.messages) > ledger.kills / 2

    counts, integrity = await verify(tmp_path, ledger)
    assert integrity == "ok"
    assert {c.tool: c.lost for c in counts} == {"save_checkpoint": 0, "append_messages": 0, "remember_fact": 0}
    assert {c.tool: c.found for c in counts} == {c.tool: c.acknowledged for c in counts}

    # A server started after the last kill serves the same data (to the loop's user).
    async with spawn(tmp_path, env={"MEMORY_SERVER_EMBEDDINGS__PRELOAD": "false"}) as client:
        [writer, session_id] = next(iter(ledger.sessions.items()))
        window = await call(client, "get_session_context", session_id=session_id, max_messages=1)
        assert window["messages"][0]["content"].startswith(f"{writer}: message ")
