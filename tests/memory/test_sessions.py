"""Sessions in the domain: appends and totals, the window, summaries, bad input, TTL and sweeping."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from memory_server.app import Memory, open_memory
from memory_server.cli import main as cli
from memory_server.clock import ManualClock
from memory_server.config import Settings
from memory_server.embeddings import FakeEncoder, ReadyEmbedder
from memory_server.errors import InvalidInputError, NotFoundError
from memory_server.memory.facts import NewFact
from memory_server.memory.sessions import NewMessage
from memory_server.memory.text import estimate_tokens
from memory_server.memory.tool_calls import NewToolCall
from memory_server.store import Database
from tests.conftest import make_settings


def turns(count: int, start: int = 1) -> list[NewMessage]:
    return [
        NewMessage("user" if i % 2 else "assistant", f"turn {i}: talking about topic number {i}")
        for i in range(start, start + count)
    ]


async def row_counts(db: Database) -> dict[str, int]:
    return {table: await db.scalar(f"SELECT count(*) FROM {table}") for table in ("sessions", "messages", "summaries")}


# -- append and totals ---------------------------------------------------------------------


async def test_appending_without_a_session_id_starts_a_session_with_an_unguessable_id(memory: Memory) -> None:
    first = await memory.sessions.append("alice", turns(2))
    second = await memory.sessions.append("alice", turns(1))
    assert first.created
    assert second.created
    assert re.fullmatch(r"ses_[A-Za-z0-9_-]{22}", first.session_id)  # 16 random bytes = 128 bits
    assert first.session_id != second.session_id
    assert len(first.message_ids) == 2


async def test_totals_count_given_tokens_and_estimate_the_missing_ones(memory: Memory) -> None:
    started = await memory.sessions.append(
        "alice", [NewMessage("user", "How warm is Lisbon in May?"), NewMessage("assistant", "Mild.", None, 120, 0.002)]
    )
    more = await memory.sessions.append(
        "alice", [NewMessage("tool", "22 C", "weather", 7, 0.0005)], session_id=started.session_id
    )
    assert not more.created
    assert more.totals.messages == 3
    assert more.totals.tokens == estimate_tokens("How warm is Lisbon in May?") + 120 + 7
    assert more.totals.cost_usd == pytest.approx(0.0025)


async def test_should_summarize_turns_on_past_the_configured_token_threshold(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, sessions={"summarize_after_tokens": 100})
    async with open_memory(settings, embedder=ReadyEmbedder(FakeEncoder())) as memory:
        small = await memory.sessions.append("alice", [NewMessage("user", "hello there", tokens=60)])
        assert not small.should_summarize
        big = await memory.sessions.append(
            "alice", [NewMessage("assistant", "a long answer", tokens=60)], session_id=small.session_id
        )
        assert big.should_summarize
        assert big.unsummarized_tokens == 120
        await memory.sessions.summarize("alice", small.session_id, summary="They greeted.", keep_recent=0)
        after = await memory.sessions.append("alice", [NewMessage("user", "ok", tokens=5)], session_id=small.session_id)
        assert not after.should_summarize
        assert after.unsummarized_tokens == 5


# -- the window ----------------------------------------------------------------------------


async def test_the_window_is_system_messages_then_the_latest_messages_oldest_first(memory: Memory) -> None:
    started = await memory.sessions.append("alice", [NewMessage("system", "You are a travel assistant."), *turns(30)])
    window = await memory.sessions.context("alice", started.session_id, max_messages=5)
    assert [m.content for m in window.system] == ["You are a travel assistant."]
    assert [m.seq for m in window.messages] == [27, 28, 29, 30, 31]
    assert window.omitted == 25
    assert window.summary is None
    assert window.tokens == sum(m.tokens for m in [*window.system, *window.messages])


async def test_the_window_stops_at_max_tokens_and_counts_what_it_left_out(memory: Memory) -> None:
    started = await memory.sessions.append("alice", [NewMessage("user", f"message {i}", tokens=10) for i in range(8)])
    window = await memory.sessions.context("alice", started.session_id, max_messages=20, max_tokens=35)
    assert [m.content for m in window.messages] == ["message 5", "message 6", "message 7"]
    assert window.omitted == 5
    assert window.tokens == 30


# -- summaries -----------------------------------------------------------------------------


async def test_a_host_summary_replaces_older_messages_in_the_window_but_they_stay_stored(memory: Memory) -> None:
    started = await memory.sessions.append("alice", [NewMessage("system", "Be brief."), *turns(30)])
    done = await memory.sessions.summarize("alice", started.session_id, summary="They planned a trip.", keep_recent=4)
    assert done.source == "host"
    assert done.covers_messages == 27  # the system message and turns 1-26
    assert done.compacted_now == 27
    assert done.tokens_after < done.tokens_before

    window = await memory.sessions.context("alice", started.session_id, max_messages=20)
    assert window.summary is not None
    assert window.summary.content == "They planned a trip."
    assert [m.seq for m in window.messages] == [28, 29, 30, 31]
    assert [m.content for m in window.system] == ["Be brief."]  # system messages are always sent
    assert window.summarized_messages == 27
    assert len(await memory.sessions.history("alice", started.session_id)) == 31


async def test_a_second_summary_covers_everything_up_to_its_point(memory: Memory) -> None:
    started = await memory.sessions.append("alice", turns(20))
    await memory.sessions.summarize("alice", started.session_id, summary="First part.", keep_recent=5)
    await memory.sessions.append("alice", turns(10, start=21), session_id=started.session_id)
    second = await memory.sessions.summarize("alice", started.session_id, summary="Both parts.", keep_recent=5)
    assert second.covers_messages == 25
    assert second.compacted_now == 10
    window = await memory.sessions.context("alice", started.session_id)
    assert window.summary is not None
    assert window.summary.content == "Both parts."
    assert [m.seq for m in window.messages] == [26, 27, 28, 29, 30]


async def test_summarizing_with_nothing_old_enough_is_refused_and_changes_nothing(memory: Memory) -> None:
    started = await memory.sessions.append("alice", turns(4))
    with pytest.raises(InvalidInputError, match="Nothing to summarize"):
        await memory.sessions.summarize("alice", started.session_id, keep_recent=10)
    assert await row_counts(memory.db) == {"sessions": 1, "messages": 4, "summaries": 0}


async def test_a_local_summary_is_made_without_a_host_summary(memory: Memory) -> None:
    started = await memory.sessions.append(
        "alice",
        [
            NewMessage("user", "We decided to move the launch to Tuesday because the venue is booked."),
            NewMessage("assistant", "Understood, the launch moves to Tuesday."),
            *turns(6),
        ],
    )
    done = await memory.sessions.summarize("alice", started.session_id, keep_recent=2)
    assert done.source == "local"
    assert "launch to Tuesday" in done.summary
    assert done.covers_messages == 6


async def test_get_user_context_with_a_session_id_packs_the_session_summary(memory: Memory) -> None:
    await memory.facts.remember("alice", NewFact("Prefers window seats on trains"))
    started = await memory.sessions.append("alice", turns(6))
    await memory.sessions.summarize(
        "alice", started.session_id, summary="- user: booked the Porto train", keep_recent=2
    )
    packed = await memory.context.build("alice", session_id=started.session_id, max_tokens=300)
    assert packed.session_summary is not None
    assert "booked the Porto train" in packed.session_summary
    assert "booked the Porto train" in packed.text
    assert "window seats" in packed.text
    assert packed.tokens <= 300
    without = await memory.context.build("alice")
    assert without.session_summary is None
    assert "Porto" not in without.text
    with pytest.raises(NotFoundError, match="Unknown or expired session"):
        await memory.context.build("alice", session_id="ses_nope_nope_nope_nope_nop")


# -- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("messages", "error"),
    [
        ([NewMessage("robot", "beep")], r"messages\[0\]\.role is 'robot'; use one of user, assistant, system, tool"),
        ([], "messages is empty"),
        (turns(10_000), "10000 messages given; the limit is 500 per call"),
        ([NewMessage("user", "ok"), NewMessage("user", "   ")], r"messages\[1\]\.content is empty"),
        ([NewMessage("user", "x" * 70_000)], r"messages\[0\]\.content is 70000 bytes; the limit is 65536"),
        ([NewMessage("user", "hi", tokens=-1)], r"messages\[0\]\.tokens must be between 0"),
        ([NewMessage("user", "hi", cost_usd=float("nan"))], r"messages\[0\]\.cost_usd must be between 0"),
    ],
)
async def test_bad_messages_are_refused_with_a_clear_error_and_nothing_is_written(
    memory: Memory, messages: list[NewMessage], error: str
) -> None:
    existing = await memory.sessions.append("alice", turns(3))
    before = await row_counts(memory.db)
    with pytest.raises(InvalidInputError, match=error):
        await memory.sessions.append("alice", messages)
    with pytest.raises(InvalidInputError, match=error):
        await memory.sessions.append("alice", messages, session_id=existing.session_id)
    assert await row_counts(memory.db) == before


async def test_another_users_session_gets_the_same_answer_as_an_unknown_one(memory: Memory) -> None:
    bobs = await memory.sessions.append("bob", turns(3))
    before = await row_counts(memory.db)
    unknown = "ses_" + "A" * 22
    for call in (
        lambda sid: memory.sessions.append("alice", turns(1), session_id=sid),
        lambda sid: memory.sessions.context("alice", sid),
        lambda sid: memory.sessions.summarize("alice", sid, summary="stolen", keep_recent=0),
    ):
        with pytest.raises(NotFoundError) as of_bob:
            await call(bobs.session_id)
        with pytest.raises(NotFoundError) as of_nobody:
            await call(unknown)
        assert str(of_bob.value).replace(bobs.session_id, "ID") == str(of_nobody.value).replace(unknown, "ID")
        assert "Unknown or expired session" in str(of_bob.value)
    assert await row_counts(memory.db) == before


async def test_a_malformed_session_id_is_simply_unknown(memory: Memory) -> None:
    with pytest.raises(NotFoundError, match="Unknown or expired session"):
        await memory.sessions.context("alice", "'; DROP TABLE sessions; --")


async def test_a_session_cannot_grow_past_its_message_limit(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, sessions={"max_messages_per_session": 5})
    async with open_memory(settings, embedder=ReadyEmbedder(FakeEncoder())) as memory:
        started = await memory.sessions.append("alice", turns(4))
        with pytest.raises(InvalidInputError, match=r"limit of 5\. Nothing was added"):
            await memory.sessions.append("alice", turns(2), session_id=started.session_id)
        assert (await memory.sessions.info("alice", started.session_id)).totals.messages == 4


# -- lifetime ------------------------------------------------------------------------------


async def test_activity_moves_the_expiry_and_idleness_ends_the_session(memory: Memory, clock: ManualClock) -> None:
    started = await memory.sessions.append("alice", turns(2))
    clock.advance(hours=700)
    await memory.sessions.append("alice", turns(1), session_id=started.session_id)
    clock.advance(hours=700)  # 1,400 hours after the start, 700 after the last activity
    assert (await memory.sessions.context("alice", started.session_id)).totals.messages == 3
    clock.advance(hours=21)
    with pytest.raises(NotFoundError, match="Unknown or expired session"):
        await memory.sessions.context("alice", started.session_id)


async def test_a_session_ttl_can_be_chosen_per_session(memory: Memory, clock: ManualClock) -> None:
    started = await memory.sessions.append("alice", turns(1), ttl_hours=1)
    clock.advance(hours=2)
    with pytest.raises(NotFoundError):
        await memory.sessions.context("alice", started.session_id)
    with pytest.raises(InvalidInputError, match="ttl_hours must be more than 0"):
        await memory.sessions.append("alice", turns(1), ttl_hours=10**9)


async def test_an_expired_session_is_erased_by_the_sweep_and_its_facts_remain(
    settings: Settings, clock: ManualClock
) -> None:
    secret = "The vault code is purple-otter-4412."
    async with open_memory(settings, embedder=ReadyEmbedder(FakeEncoder()), clock=clock) as memory:
        fact = await memory.facts.remember("alice", NewFact("Prefers aisle seats", source_session=None))
        expired = await memory.sessions.append("alice", [NewMessage("user", secret), *turns(5)])
        await memory.sessions.summarize("alice", expired.session_id, summary=f"user said: {secret}", keep_recent=1)
        await memory.tool_calls.record(
            "alice", NewToolCall(session_id=expired.session_id, tool_name="vault", input={"code": secret})
        )
        clock.advance(hours=600)
        live = await memory.sessions.append("alice", turns(2))
        clock.advance(hours=121)  # the first session is idle for 721 h, the second for 121 h
        swept = await memory.sweep()
        assert swept["sessions"] == 1
        with pytest.raises(NotFoundError, match="Unknown or expired session"):
            await memory.sessions.append("alice", turns(1), session_id=expired.session_id)
        with pytest.raises(NotFoundError, match="Unknown or expired session"):
            await memory.sessions.summarize("alice", expired.session_id, summary="x")

    # A fresh connection sees what is on disk.
    async with Database.open(settings, clock=clock) as fresh:
        assert await fresh.scalar("SELECT count(*) FROM sessions WHERE id = ?", [expired.session_id]) == 0
        assert await fresh.scalar("SELECT count(*) FROM messages WHERE session_id = ?", [expired.session_id]) == 0
        assert await fresh.scalar("SELECT count(*) FROM summaries WHERE session_id = ?", [expired.session_id]) == 0
        assert await fresh.scalar("SELECT count(*) FROM messages WHERE content LIKE '%purple-otter%'") == 0
        assert await fresh.scalar("SELECT count(*) FROM summaries WHERE content LIKE '%purple-otter%'") == 0
        assert await fresh.scalar("SELECT count(*) FROM tool_calls WHERE session_id = ?", [expired.session_id]) == 0
        assert await fresh.scalar("SELECT count(*) FROM messages WHERE session_id = ?", [live.session_id]) == 2
        assert await fresh.scalar("SELECT content FROM facts WHERE id = ?", [fact.fact_id]) == "Prefers aisle seats"


# -- listing and the CLI -------------------------------------------------------------------


async def test_sessions_are_listed_most_recently_active_first_and_only_for_their_user(
    memory: Memory, clock: ManualClock
) -> None:
    older = await memory.sessions.append("alice", turns(1), agent_name="planner")
    clock.advance(hours=1)
    newer = await memory.sessions.append("alice", turns(2))
    await memory.sessions.append("bob", turns(1))
    listed = await memory.sessions.list_sessions("alice")
    assert [s.id for s in listed] == [newer.session_id, older.session_id]
    assert listed[1].agent_name == "planner"


def test_the_cli_lists_shows_and_collects_sessions(tmp_path: Path) -> None:
    import asyncio

    settings = make_settings(tmp_path)

    async def seed() -> str:
        async with open_memory(settings, embedder=ReadyEmbedder(FakeEncoder())) as memory:
            started = await memory.sessions.append(
                memory.user_id, [NewMessage("user", "Plan the Porto trip"), NewMessage("assistant", "Sure.")]
            )
            return started.session_id

    session_id = asyncio.run(seed())
    runner = CliRunner()
    flags = ["--home", str(tmp_path), "--user", "alice"]
    listed = runner.invoke(cli, [*flags, "sessions", "list"])
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.output.splitlines() if session_id in line)
    assert [cell.strip() for cell in row.split("│")[1:-1]][2] == "2"  # the msgs column
    shown = runner.invoke(cli, [*flags, "sessions", "show", session_id, "--all"])
    assert shown.exit_code == 0, shown.output
    first = next(line for line in shown.output.splitlines() if "Plan the Porto trip" in line)
    assert [cell.strip() for cell in first.split("│")[1:4]] == ["1", "user", "Plan the Porto trip"]
    missing = runner.invoke(cli, [*flags, "sessions", "show", "ses_" + "B" * 22])
    assert missing.exit_code == 1
    assert "Unknown or expired session" in missing.output
    collected = runner.invoke(cli, [*flags, "sessions", "gc"])
    assert collected.exit_code == 0
    assert "erased 0 expired session(s)" in collected.output
