"""Multi-user mode: every tool takes a required user_id; single-user mode refuses one; no user
ever sees, counts or reaches another user's facts, sessions, checkpoints or tool calls."""

from __future__ import annotations

import asyncio
import json
import re
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from mcp import Client, MCPError
from mcp.types import TextResourceContents

from memory_server.app import Memory
from memory_server.clock import ManualClock
from memory_server.config import Settings
from memory_server.embeddings import FakeEncoder, ReadyEmbedder
from memory_server.memory.facts import NewFact, SearchRequest
from memory_server.memory.models import SearchResult
from memory_server.server import build_server
from memory_server.tools.users import SINGLE_USER
from tests.conftest import make_settings
from tests.stdio import TOOLS, call, call_error, stdio_client


@asynccontextmanager
async def connect(settings: Settings, clock: ManualClock | None = None) -> AsyncIterator[Client]:
    server = build_server(settings, embedder=ReadyEmbedder(FakeEncoder()), clock=clock or ManualClock())
    async with Client(server, mode="legacy") as client:
        yield client


def multi(home: Path, **changes: Any) -> Settings:
    return make_settings(home, multi_user=True, checkpoints={"keep_per_thread": 1_000}, **changes)


async def read_text(client: Client, uri: str) -> str:
    [content] = (await client.read_resource(uri)).contents
    assert isinstance(content, TextResourceContents)
    return content.text


# -- the two modes --------------------------------------------------------------------------


async def test_single_user_mode_offers_no_user_id_and_refuses_one_sent_anyway(settings: Settings) -> None:
    async with connect(settings) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert set(tools) >= set(TOOLS)
        assert not [name for name in TOOLS if "user_id" in tools[name].input_schema["properties"]]

        refused = await call_error(client, "remember_fact", content="Likes tea", user_id="bob")
        assert SINGLE_USER in refused
        assert "omit user_id" in refused
        listed = await call_error(client, "list_checkpoints", thread_id="t-1", user_id="alice")
        assert SINGLE_USER in listed
        context = await call(client, "get_user_context")
        assert context["facts"] == []  # nothing was stored by the refused call


async def test_multi_user_mode_requires_a_valid_user_id_on_every_tool(tmp_path: Path) -> None:
    async with connect(multi(tmp_path)) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        for name in TOOLS:
            schema = tools[name].input_schema
            assert "user_id" in schema["required"], name
            assert next(iter(schema["properties"])) == "user_id", name
        missing = await call_error(client, "remember_fact", content="Likes tea")
        assert "user_id" in missing and "required" in missing.lower()
        for bad in ("", "has space", "-leading-dash", "x" * 65, "../etc"):
            assert "user_id" in await call_error(client, "search_facts", query="tea", user_id=bad)
        stored = await call(client, "remember_fact", content="Likes tea", user_id="alice")
        assert stored["status"] == "created"


async def test_views_and_prompts_are_addressed_per_user_in_multi_user_mode(tmp_path: Path) -> None:
    async with connect(multi(tmp_path)) as client:
        await call(client, "remember_fact", content="Alice likes green tea", user_id="alice")
        await call(client, "save_checkpoint", thread_id="t-1", state={"who": "alice"}, user_id="alice")
        assert "green tea" in await read_text(client, "memory://users/alice/context")
        assert "green tea" not in await read_text(client, "memory://users/bob/context")
        assert json.loads(await read_text(client, "memory://users/alice/threads/t-1/checkpoints"))["total"] == 1
        with pytest.raises(MCPError, match="Unknown thread"):
            await read_text(client, "memory://users/bob/threads/t-1/checkpoints")
        status = json.loads(await read_text(client, "memory://status"))
        assert (status["multi_user"], status["user"], status["facts"]) == (True, None, None)

        [prompt] = (await client.list_prompts()).prompts
        assert {a.name for a in prompt.arguments or [] if a.required} == {"user_id", "thread_id"}
        resumed = await client.get_prompt("resume_thread", {"user_id": "alice", "thread_id": "t-1"})
        assert "t-1" in resumed.messages[0].content.text  # type: ignore[union-attr]
        with pytest.raises(MCPError, match="Unknown thread"):
            await client.get_prompt("resume_thread", {"user_id": "bob", "thread_id": "t-1"})


def same_but_ids(first: str, second: str, *ids: object) -> bool:
    """Equal once each id is replaced by a placeholder."""

    def normal(text: str) -> str:
        text = re.sub(r"ses_[A-Za-z0-9_-]+", "<id>", text)
        for value in ids:
            text = re.sub(rf"(?<![\w-]){re.escape(str(value))}(?![\w-])", "<id>", text)
        return text

    return normal(first) == normal(second)


async def test_another_users_ids_answer_exactly_as_missing_ids(tmp_path: Path) -> None:
    async with connect(multi(tmp_path)) as client:
        alice = {"user_id": "alice"}
        bob = {"user_id": "bob"}
        fact = (await call(client, "remember_fact", content="Alice likes green tea", **alice))["fact_id"]
        session = (await call(client, "append_messages", messages=[{"role": "user", "content": "hi"}], **alice))[
            "session_id"
        ]
        saved = await call(client, "save_checkpoint", thread_id="t-a", state={"x": 1}, **alice)
        await call(client, "save_checkpoint", thread_id="t-b", state={"x": 2}, **bob)
        unknown_session = "ses_" + "Z" * 22
        missing_fact = 99_999

        pairs: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
            ("forget_fact", {"fact_id": fact}, {"fact_id": missing_fact}),
            ("remember_fact", {"content": "x y", "supersedes": fact}, {"content": "x y", "supersedes": missing_fact}),
            ("get_session_context", {"session_id": session}, {"session_id": unknown_session}),
            (
                "append_messages",
                {"session_id": session, "messages": [{"role": "user", "content": "a"}]},
                {"session_id": unknown_session, "messages": [{"role": "user", "content": "a"}]},
            ),
            ("summarize_session", {"session_id": session}, {"session_id": unknown_session}),
            (
                "record_tool_call",
                {"session_id": session, "tool_name": "t"},
                {"session_id": unknown_session, "tool_name": "t"},
            ),
            ("get_user_context", {"session_id": session}, {"session_id": unknown_session}),
            ("restore_checkpoint", {"thread_id": "t-a"}, {"thread_id": "t-zz"}),
            ("list_checkpoints", {"thread_id": "t-a"}, {"thread_id": "t-zz"}),
            (
                "restore_checkpoint",
                {"thread_id": "t-b", "checkpoint_id": saved["checkpoint_id"]},
                {"thread_id": "t-b", "checkpoint_id": missing_fact},
            ),
            (
                "save_checkpoint",
                {"thread_id": "t-b", "state": {}, "parent_id": saved["checkpoint_id"]},
                {"thread_id": "t-b", "state": {}, "parent_id": missing_fact},
            ),
        ]
        for tool, theirs, missing in pairs:
            crossed = await call_error(client, tool, **theirs, **bob)
            absent = await call_error(client, tool, **missing, **bob)
            ids = (fact, missing_fact, saved["checkpoint_id"], "'t-a'", "'t-zz'")
            assert same_but_ids(crossed, absent, *ids), (tool, crossed, absent)

        for uri_of in ("memory://users/bob/sessions/{}", "memory://users/bob/sessions/{}/audit"):
            with pytest.raises(MCPError) as crossed_view:
                await read_text(client, uri_of.format(session))
            with pytest.raises(MCPError) as absent_view:
                await read_text(client, uri_of.format(unknown_session))
            assert same_but_ids(crossed_view.value.message, absent_view.value.message)

        # and alice's data is untouched by bob's attempts
        assert (await call(client, "restore_checkpoint", thread_id="t-a", **alice))["state"] == {"x": 1}
        assert (await call(client, "get_session_context", session_id=session, **alice))["totals"]["messages"] == 1


# -- the property: two users interleaved ----------------------------------------------------

USERS = ("alice", "bob")
MARK = {"alice": "alfa", "bob": "bravo"}
THREADS = ("t0", "t1", "t2")
OPERATIONS = (
    "remember",
    "search",
    "context",
    "forget_own",
    "forget_theirs",
    "append_new",
    "append_more",
    "read_theirs_session",
    "save",
    "restore",
    "restore_theirs_checkpoint",
    "record",
    "record_in_theirs",
)


@dataclass
class Model:
    facts: set[int] = field(default_factory=set)
    sessions: dict[str, int] = field(default_factory=dict)  # id -> messages
    calls: dict[str, int] = field(default_factory=dict)  # session id -> tool calls
    threads: dict[str, int] = field(default_factory=dict)  # thread -> checkpoints
    checkpoints: set[int] = field(default_factory=set)


FACT_KEYS = ("fact_id", "id", "superseded_id", "supersedes", "superseded_by", "deleted")
CHECKPOINT_KEYS = ("checkpoint_id", "parent_id", "id")


def mentioned_ids(answer: Any, keys: tuple[str, ...]) -> set[int]:
    """Every id an answer holds under one of `keys` (fact ids and checkpoint ids are separate spaces)."""
    ids: set[int] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, member in value.items():
                if key in keys and isinstance(member, int):
                    ids.add(member)
                if key in keys and isinstance(member, list):
                    ids.update(item for item in member if isinstance(item, int))
                walk(member)
        elif isinstance(value, list):
            for member in value:
                walk(member)

    walk(answer)
    return ids


async def interleave(home: Path, steps: list[tuple[str, str, int]]) -> None:
    models = {user: Model() for user in USERS}
    async with connect(multi(home)) as client:
        for user, operation, n in steps:
            other = USERS[1 - USERS.index(user)]
            mine, theirs = models[user], models[other]
            args: dict[str, Any] = {"user_id": user}
            mark = MARK[user]
            answer: Any = None
            if operation == "remember":
                # n == 3: both users state the very same fact; it must never merge across users
                content = "likes the shared topic" if n == 3 else f"{mark} likes topic{n} shared"
                answer = await call(client, "remember_fact", content=content, **args)
                assert answer["fact_id"] not in theirs.facts
                mine.facts.add(answer["fact_id"])
            elif operation == "search":
                answer = await call(client, "search_facts", query=f"likes topic{n} shared", limit=50, **args)
                assert {hit["fact"]["id"] for hit in answer["hits"]} <= mine.facts
            elif operation == "context":
                answer = await call(client, "get_user_context", max_tokens=8_000, **args)
                assert len(answer["facts"]) + answer["omitted"] == len(mine.facts)
            elif operation == "forget_own" and mine.facts:
                target = sorted(mine.facts)[n % len(mine.facts)]
                answer = await call(client, "forget_fact", fact_id=target, **args)
                mine.facts -= set(answer["deleted"])
            elif operation == "forget_theirs" and theirs.facts:
                target = sorted(theirs.facts)[n % len(theirs.facts)]
                assert "No fact with id" in await call_error(client, "forget_fact", fact_id=target, **args)
            elif operation == "append_new":
                answer = await call(
                    client, "append_messages", messages=[{"role": "user", "content": f"{mark} says {n}"}], **args
                )
                mine.sessions[answer["session_id"]] = 1
            elif operation == "append_more" and mine.sessions:
                session = sorted(mine.sessions)[n % len(mine.sessions)]
                answer = await call(
                    client,
                    "append_messages",
                    session_id=session,
                    messages=[{"role": "assistant", "content": f"{mark} reply {n}"}] * (n + 1),
                    **args,
                )
                mine.sessions[session] += n + 1
                assert answer["totals"]["messages"] == mine.sessions[session]
            elif operation == "read_theirs_session" and theirs.sessions:
                session = sorted(theirs.sessions)[n % len(theirs.sessions)]
                assert "Unknown or expired session" in await call_error(
                    client, "get_session_context", session_id=session, **args
                )
            elif operation == "save":
                thread = THREADS[n % len(THREADS)]
                answer = await call(client, "save_checkpoint", thread_id=thread, state={"by": mark, "n": n}, **args)
                mine.threads[thread] = mine.threads.get(thread, 0) + 1
                mine.checkpoints.add(answer["checkpoint_id"])
                assert answer["step"] == mine.threads[thread]  # steps count only this user's saves
            elif operation == "restore":
                thread = THREADS[n % len(THREADS)]
                if thread in mine.threads:
                    answer = await call(client, "restore_checkpoint", thread_id=thread, **args)
                    assert answer["state"]["by"] == mark
                    listed = await call(client, "list_checkpoints", thread_id=thread, limit=100, **args)
                    assert listed["total"] == mine.threads[thread]
                else:
                    assert "Unknown thread" in await call_error(client, "restore_checkpoint", thread_id=thread, **args)
            elif operation == "restore_theirs_checkpoint" and theirs.checkpoints and mine.threads:
                thread = sorted(mine.threads)[0]
                target = sorted(theirs.checkpoints)[n % len(theirs.checkpoints)]
                refused = await call_error(client, "restore_checkpoint", thread_id=thread, checkpoint_id=target, **args)
                assert f"has no checkpoint {target}" in refused
            elif operation == "record" and mine.sessions:
                session = sorted(mine.sessions)[n % len(mine.sessions)]
                answer = await call(
                    client, "record_tool_call", session_id=session, tool_name="t", output=f"{mark} out", **args
                )
                mine.calls[session] = mine.calls.get(session, 0) + 1
                assert answer["totals"]["tool_calls"] == mine.calls[session]
            elif operation == "record_in_theirs" and theirs.sessions:
                session = sorted(theirs.sessions)[n % len(theirs.sessions)]
                assert "Unknown or expired session" in await call_error(
                    client, "record_tool_call", session_id=session, tool_name="t", **args
                )
            if answer is not None:
                text = json.dumps(answer)
                assert MARK[other] not in text, (user, operation, text)
                sessions = set(re.findall(r"ses_[A-Za-z0-9_-]{16,64}", text))
                assert not sessions & set(theirs.sessions), (user, operation, text)
                if operation in ("remember", "search", "context", "forget_own"):
                    assert not mentioned_ids(answer, FACT_KEYS) & theirs.facts, (user, operation, text)
                if operation in ("save", "restore"):
                    assert not mentioned_ids(answer, CHECKPOINT_KEYS) & theirs.checkpoints, (user, operation, text)

        for user in USERS:  # and at the end, every count is each user's own
            model = models[user]
            context = await call(client, "get_user_context", max_tokens=8_000, user_id=user)
            assert len(context["facts"]) + context["omitted"] == len(model.facts)
            for session, messages in model.sessions.items():
                found = await call(client, "get_session_context", session_id=session, user_id=user)
                assert found["totals"]["messages"] == messages
                audit = json.loads(await read_text(client, f"memory://users/{user}/sessions/{session}/audit"))
                assert audit["totals"]["tool_calls"] == model.calls.get(session, 0)
                assert MARK[USERS[1 - USERS.index(user)]] not in json.dumps(audit)


@hypothesis_settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(USERS), st.sampled_from(OPERATIONS), st.integers(min_value=0, max_value=3)),
        min_size=1,
        max_size=30,
    )
)
def test_two_interleaved_users_never_see_count_or_reach_each_others_memory(
    steps: list[tuple[str, str, int]],
) -> None:
    with tempfile.TemporaryDirectory() as home:
        asyncio.run(interleave(Path(home), steps))


async def test_another_users_facts_do_not_move_a_users_scores(memory: Memory) -> None:
    await memory.facts.remember("alice", NewFact("Alice likes green tea"))
    await memory.facts.remember("alice", NewFact("Alice owns a green bike"))

    def relevance(result: SearchResult) -> list[tuple[int, float, float]]:
        return [(hit.fact.id, hit.why.relevance, hit.why.keyword_coverage) for hit in result.hits]

    before = relevance(await memory.facts.search("alice", SearchRequest(query="green tea")))
    for n in range(5):
        await memory.facts.remember("bob", NewFact(f"Bob drinks tea, cup {n}"))
    assert relevance(await memory.facts.search("alice", SearchRequest(query="green tea"))) == before


async def test_a_real_server_in_multi_user_mode_keeps_two_users_apart_over_stdio(tmp_path: Path) -> None:
    no_model = {"MEMORY_SERVER_MULTI_USER": "true", "MEMORY_SERVER_EMBEDDINGS__PRELOAD": "false"}
    async with stdio_client(tmp_path, env=no_model) as client:
        await call(client, "save_checkpoint", thread_id="task", state={"by": "alfa"}, user_id="alice")
        await call(client, "save_checkpoint", thread_id="task", state={"by": "bravo"}, user_id="bob")
        assert (await call(client, "restore_checkpoint", thread_id="task", user_id="alice"))["state"] == {"by": "alfa"}
        assert (await call(client, "restore_checkpoint", thread_id="task", user_id="bob"))["state"] == {"by": "bravo"}
        assert "user_id" in await call_error(client, "restore_checkpoint", thread_id="task")
