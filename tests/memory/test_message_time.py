"""When a message was said: an optional ISO 8601 time given at append, else the time of appending."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from memory_server.app import Memory, open_memory
from memory_server.clock import ManualClock
from memory_server.embeddings import FakeEncoder, ReadyEmbedder
from memory_server.errors import InvalidInputError
from memory_server.memory.sessions import NewMessage
from memory_server.memory.transfer import export, import_lines
from tests.conftest import make_settings


async def test_a_given_time_round_trips_and_a_missing_one_stays_empty(memory: Memory) -> None:
    started = await memory.sessions.append(
        "alice",
        [
            NewMessage("user", "I went to a support group yesterday.", "Caroline", time="2023-05-08T13:56:00Z"),
            NewMessage("user", "I painted a sunrise last year.", "Melanie", time="2023-05-08T15:56:00+02:00"),
            NewMessage("user", "A date alone is its midnight, in UTC.", "Melanie", time="2023-05-09"),
            NewMessage("user", "Said now."),
        ],
    )
    window = await memory.sessions.context("alice", started.session_id)
    assert [m.said_at for m in window.messages] == [
        "2023-05-08T13:56:00Z",
        "2023-05-08T13:56:00Z",
        "2023-05-09T00:00:00Z",
        None,
    ]
    history = await memory.sessions.history("alice", started.session_id)
    assert [m.said_at for m in history] == [m.said_at for m in window.messages]


async def test_the_summary_says_the_day_things_were_said_else_the_day_they_were_appended(
    memory: Memory, clock: ManualClock
) -> None:
    started = await memory.sessions.append(
        "alice",
        [
            NewMessage("user", "I started a new job as a Financial Analyst.", "Jon", time="2023-01-20T10:00:00Z"),
            NewMessage("user", "I adopted a puppy named Rex from the shelter.", "Gina"),
        ],
    )
    done = await memory.sessions.summarize("alice", started.session_id, keep_recent=0)
    assert done.summary.splitlines() == [
        "20 January 2023:",
        "- Jon: I started a new job as a Financial Analyst.",
        "1 January 2026:",  # the injected clock's day
        "- Gina: I adopted a puppy named Rex from the shelter.",
    ]


@pytest.mark.parametrize("bad", ["yesterday", "2023-13-01", "8 May 2023", ""])
async def test_a_time_that_is_not_iso_8601_is_refused_and_nothing_is_added(memory: Memory, bad: str) -> None:
    started = await memory.sessions.append("alice", [NewMessage("user", "First.")])
    with pytest.raises(InvalidInputError, match=r"messages\[1\]\.time is not an ISO 8601 date-time"):
        await memory.sessions.append(
            "alice",
            [NewMessage("user", "Fine."), NewMessage("user", "Bad time.", time=bad)],
            session_id=started.session_id,
        )
    assert (await memory.sessions.info("alice", started.session_id)).totals.messages == 1


async def test_the_time_survives_an_export_and_an_import(memory: Memory, tmp_path: Path, clock: ManualClock) -> None:
    started = await memory.sessions.append(
        "alice",
        [NewMessage("user", "I moved to Lisbon.", "Ana", time="2023-05-08T13:56:00Z"), NewMessage("user", "Hi")],
    )
    out = io.BytesIO()
    await export(memory, out)
    async with open_memory(
        make_settings(tmp_path / "other"), embedder=ReadyEmbedder(FakeEncoder()), clock=clock
    ) as other:
        await import_lines(other, out.getvalue().decode().splitlines())
        history = await other.sessions.history("alice", started.session_id)
    assert [m.said_at for m in history] == ["2023-05-08T13:56:00Z", None]
