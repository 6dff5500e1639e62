"""`memory-server stats` and the inspection commands: readable tables, and --json for scripts."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from memory_server.app import open_memory
from memory_server.cli import main
from memory_server.clock import ManualClock
from memory_server.embeddings import FakeEncoder, ReadyEmbedder
from memory_server.memory.checkpoints import NewCheckpoint
from memory_server.memory.facts import NewFact
from memory_server.memory.sessions import NewMessage
from memory_server.memory.tool_calls import NewToolCall
from tests.conftest import make_settings


@pytest.fixture
def home(tmp_path: Path) -> dict[str, Any]:
    """A store written two days ago (by the wall clock the CLI uses), then a day of activity."""
    clock = ManualClock(time.time() - 2 * 86_400)
    made: dict[str, Any] = {"path": tmp_path}

    async def fill() -> None:
        async with open_memory(make_settings(tmp_path), embedder=ReadyEmbedder(FakeEncoder()), clock=clock) as m:
            old = await m.facts.remember("alice", NewFact(content="Lives in Lisbon", category="profile"))
            await m.facts.remember(
                "alice", NewFact(content="Moved to Porto", category="profile", supersedes=old.fact_id)
            )
            await m.facts.remember("alice", NewFact(content="Prefers green tea", category="preference"))
            await m.facts.remember("alice", NewFact(content="Has a dentist visit soon", ttl_days=1))
            await m.facts.remember("bob", NewFact(content="Bob's own fact"))
            short = await m.sessions.append("alice", [NewMessage(role="user", content="hi")], ttl_hours=1)
            clock.advance(days=1)
            kept = await m.sessions.append(
                "alice", [NewMessage(role="user", content=f"turn {i}") for i in range(6)], agent_name="helper"
            )
            await m.sessions.summarize("alice", kept.session_id, summary="Talked about turns.", keep_recent=2)
            await m.tool_calls.record("alice", NewToolCall(session_id=kept.session_id, tool_name="grep", output="x"))
            for step in range(3):
                await m.checkpoints.save("alice", NewCheckpoint(thread_id="review-1", state={"step": step}))
            await m.checkpoints.save("alice", NewCheckpoint(thread_id="deploy-2", state={"ok": True}, label="go"))
            made.update(short=short.session_id, kept=kept.session_id)

    asyncio.run(fill())
    return made


def run(home: dict[str, Any], *args: str) -> str:
    result = CliRunner().invoke(
        main, ["--home", str(home["path"]), "--user", "alice", *args], env={"HF_HUB_OFFLINE": "1", "COLUMNS": "160"}
    )
    assert result.exit_code == 0, result.output
    return result.stdout


def test_stats_counts_each_layer_and_what_awaits_the_sweeper(home: dict[str, Any]) -> None:
    stats = json.loads(run(home, "stats", "--json"))

    assert stats["facts"]["counts"] == {"live": 2, "superseded": 1, "expired_pending_sweep": 1}
    assert stats["categories"] == {"profile": 1, "preference": 1}
    assert stats["sessions"]["counts"] == {
        "live": 1,
        "expired_pending_sweep": 1,
        "messages": 7,
        "compacted_messages": 4,
        "summaries": 1,
    }
    assert stats["checkpoints"]["counts"] == {"threads": 2, "checkpoints": 4, "threads_expired_pending_sweep": 0}
    assert stats["tool_calls"]["counts"] == {"calls": 1, "not_ok": 0}
    assert stats["facts"]["oldest"] < stats["sessions"]["newest"]
    assert stats["store"]["database_bytes"] > 0 and stats["store"]["model"] == "all-MiniLM-L6-v2"
    assert stats["audit"]["counts"]["rows"] > 0


def test_stats_as_a_table_names_every_layer(home: dict[str, Any]) -> None:
    out = run(home, "stats")
    rows = {tuple(cell.strip() for cell in line.split("│")[1:-1]) for line in out.splitlines() if "│" in line}
    for expected in [("facts", "live", "2"), ("", "superseded", "1"), ("", "expired pending sweep", "1")]:
        assert expected in rows, expected
    assert ("sessions", "live", "1") in rows and ("tool calls", "calls", "1") in rows
    assert ("profile", "1") in rows


def test_sessions_and_threads_list_and_show_as_tables_and_json(home: dict[str, Any]) -> None:
    listed = json.loads(run(home, "sessions", "list", "--json"))
    assert [s["id"] for s in listed] == [home["kept"]]
    table = run(home, "sessions", "list")
    assert home["kept"] in table and "helper" in table and "msgs" in table

    shown = json.loads(run(home, "sessions", "show", home["kept"], "--all", "--json"))
    assert len(shown["history"]) == 6 and shown["summary"]["content"] == "Talked about turns."
    assert "turn 5" in run(home, "sessions", "show", home["kept"])

    threads = json.loads(run(home, "threads", "list", "--json"))
    assert [t["thread_id"] for t in threads] == ["deploy-2", "review-1"]
    assert "review-1" in run(home, "threads", "list") and "checkpoints" in run(home, "threads", "list")
    history = json.loads(run(home, "threads", "show", "review-1", "--json"))
    assert [c["step"] for c in history["checkpoints"]] == [3, 2, 1]
    assert "parent" in run(home, "threads", "show", "review-1")


def test_facts_list_is_a_table_and_json(home: dict[str, Any]) -> None:
    assert {f["content"] for f in json.loads(run(home, "facts", "list", "--json"))} == {
        "Moved to Porto",
        "Prefers green tea",
    }
    table = run(home, "facts", "list", "--all")
    assert "Lives in Lisbon" in table and "category" in table
