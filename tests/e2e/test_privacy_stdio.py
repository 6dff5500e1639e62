"""The secrets rule on every tool that writes, through the real server over stdio: each field a
tool stores is checked by the one policy (the refusal names the policy's kind of secret), the
refusal never quotes the secret, and nothing is written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from memory_server.store import Database
from tests.conftest import make_settings
from tests.stdio import call, call_error, stdio_client

pytestmark = pytest.mark.e2e

# Assembled from parts so this file holds no literal key a scanner would flag.
AWS_ID = "AKIA" + "IOSFODNN7EXAMPLE"
ANTHROPIC = "sk-ant-api03-" + "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0"
OPENAI = "sk-proj-" + "Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9"
GOOGLE = "AIza" + "SyA1234567890abcdefghijklmnopqrstuv"
PEM_BODY = "MIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM9Oi6Ny0bXyBYXZsCz0HcR1cs4l0PzDoQ4mJ7Ym8w2RbZ"
SPACED = " ".join(ANTHROPIC[i : i + 4] for i in range(0, len(ANTHROPIC), 4))

# (tool, arguments, the field the refusal names, what must never be quoted back)
CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("remember_fact", {"content": "Deploy key AKIA IOSF ODNN 7EXA MPLE"}, "content", "IOSF"),
    ("remember_fact", {"content": "Works at ACME", "category": ANTHROPIC}, "category", ANTHROPIC[13:]),
    ("remember_fact", {"content": "Works at ACME", "tags": ["work", AWS_ID]}, "tags[1]", AWS_ID[4:]),
    ("remember_fact", {"content": "Works at ACME", "tags": [GOOGLE]}, "tags[0]", GOOGLE[4:]),
    ("remember_fact", {"content": "Works at ACME", "tags": [OPENAI]}, "tags[0]", OPENAI[8:]),
    ("remember_fact", {"content": "My password is hunter2"}, "content", "hunter2"),
    ("append_messages", {"messages": [{"role": "user", "content": f"use {SPACED}"}]}, "content", "Zx9Y"),
    ("append_messages", {"messages": [{"role": "tool", "content": "done", "name": AWS_ID}]}, ".name", AWS_ID[4:]),
    ("append_messages", {"messages": [{"role": "user", "content": "hi"}], "agent_name": AWS_ID}, "agent_name", AWS_ID),
    ("save_checkpoint", {"thread_id": AWS_ID, "state": {"step": 1}}, "thread_id", AWS_ID[4:]),
    ("save_checkpoint", {"thread_id": "t-1", "state": {}, "label": "4111.1111.1111.1111"}, "label", "1111.1111"),
    ("save_checkpoint", {"thread_id": "t-1", "state": {"env": "pw=hunter2x9"}}, "state.env", "hunter2x9"),
    (
        "save_checkpoint",
        {"thread_id": "t-1", "state": {"k": ANTHROPIC[:20] + "\u200b" + ANTHROPIC[20:]}},
        "state.k",
        "Zx9",
    ),
]
SESSION_CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("summarize_session", {"summary": "User said: my password is hunter2", "keep_recent": 0}, "summary", "hunter2"),
    ("record_tool_call", {"tool_name": AWS_ID}, "tool_name", AWS_ID[4:]),
    (
        "record_tool_call",
        {"tool_name": "http", "input": "Authorization: Bearer " + "abcdef0123456789abcdef0123"},
        "input",
        "abcdef0123",
    ),
    ("record_tool_call", {"tool_name": "read_file", "output": PEM_BODY}, "output", PEM_BODY[10:30]),
]


async def row_counts(home: Path) -> dict[str, int]:
    tables = ("facts", "sessions", "messages", "summaries", "checkpoints", "tool_calls")
    async with Database.open(make_settings(home)) as db:
        return {table: await db.scalar(f"SELECT count(*) FROM {table}") for table in tables}


async def test_every_tool_that_writes_refuses_a_secret_in_any_field_and_writes_nothing(tmp_path: Path) -> None:
    async with stdio_client(tmp_path) as client:
        started = await call(client, "append_messages", messages=[{"role": "user", "content": "hello"}])
        session_id = started["session_id"]
        cases = CASES + [(tool, {**args, "session_id": session_id}, f, s) for tool, args, f, s in SESSION_CASES]
        for tool, arguments, field, secret in cases:
            message = await call_error(client, tool, **arguments)
            assert f"{field}" in message and " contains " in message, (tool, field, message)
            assert "nothing was stored" in message.lower(), message
            assert secret not in message and secret.lower() not in message.lower(), message
        # An unknown session named by a secret is not quoted back either.
        unknown = await call_error(client, "record_tool_call", session_id=AWS_ID, tool_name="x")
        assert AWS_ID not in unknown
        # A tag that is too long is refused by its length, never quoted.
        long_tag = "Zq8" * 40
        refused = await call_error(client, "remember_fact", content="Likes tea", tags=[long_tag])
        assert "tags[0] is 120 characters" in refused and "Zq8Zq8" not in refused
    assert await row_counts(tmp_path) == {
        "facts": 0,
        "sessions": 1,
        "messages": 1,
        "summaries": 0,
        "checkpoints": 0,
        "tool_calls": 0,
    }
