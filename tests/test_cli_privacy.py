"""The secrets rule on the CLI's write paths (`facts add`, `import`) and `scan-secrets`, which
finds and removes records stored before today's rules."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from memory_server.cli import main
from memory_server.memory.checkpoints import canonical_json, content_hash
from memory_server.store import Database
from memory_server.store import transfer as store
from tests.conftest import make_settings

# Assembled from parts so this file holds no literal key a scanner would flag.
AWS_ID = "AKIA" + "IOSFODNN7EXAMPLE"
ANTHROPIC = "sk-ant-api03-" + "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0"
BEARER = "abcdef0123456789" + "abcdef0123"
SECRETS = (AWS_ID, AWS_ID.lower(), ANTHROPIC[13:], "4111 1111", "hunter2", BEARER)
TABLES = ("facts", "sessions", "messages", "summaries", "checkpoints", "tool_calls")


@pytest.fixture
def run(tmp_path: Path):  # type: ignore[no-untyped-def]
    runner = CliRunner()

    def invoke(*args: str) -> tuple[int, str]:
        result = runner.invoke(main, ["--home", str(tmp_path), "--user", "alice", *args], env={"HF_HUB_OFFLINE": "1"})
        return result.exit_code, result.output

    return invoke


def counts(home: Path) -> dict[str, int]:
    async def read() -> dict[str, int]:
        async with Database.open(make_settings(home)) as db:
            return {table: await db.scalar(f"SELECT count(*) FROM {table}") for table in TABLES}

    return asyncio.run(read())


def test_facts_add_refuses_a_secret_tag_before_lower_casing_it_and_stores_nothing(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert run("facts", "add", "Likes green tea")[0] == 0
    for args in (["--tag", AWS_ID], ["--category", ANTHROPIC], ["--tag", "AKIA IOSF ODNN 7EXA MPLE"]):
        code, out = run("facts", "add", "Works at ACME", *args)
        assert code == 1 and "contains" in out and "nothing was stored" in out, out
        assert not any(secret in out for secret in SECRETS), out
    assert counts(tmp_path)["facts"] == 1


def _export(tmp_path: Path) -> Path:
    now = time.time()
    session = {
        "agent_name": "planner",
        "created_at": now,
        "last_active_at": now,
        "ttl_hours": 720.0,
        "expires_at": now + 30 * 86_400,
        "message_count": 3,
        "tokens": 30,
        "cost_usd": 0.0,
        "compacted_through_seq": 0,
        "compacted_tokens": 0,
    }
    good, bad = "ses_" + "a" * 20, "ses_" + "b" * 20

    def message(session_id: str, seq: int, content: str, name: str | None = None) -> dict[str, Any]:
        return {
            "type": "message",
            "session_id": session_id,
            "seq": seq,
            "role": "user",
            "name": name,
            "content": content,
            "tokens": 10,
            "created_at": now,
        }

    def checkpoint(id_: int, thread_id: str, state: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "checkpoint",
            "id": id_,
            "thread_id": thread_id,
            "parent_id": None,
            "step": 1,
            "label": None,
            "session_id": None,
            "state": state,
            "hash": content_hash(canonical_json(state)),
            "created_at": now,
        }

    def tool_call(tool_name: str, input_: str) -> dict[str, Any]:
        return {
            "type": "tool_call",
            "session_id": good,
            "tool_name": tool_name,
            "status": "ok",
            "input": input_,
            "created_at": now,
        }

    records = [
        {"type": "fact", "id": 1, "content": "Likes green tea", "created_at": now, "updated_at": now},
        {"type": "fact", "id": 2, "content": "Works at ACME", "tags": [AWS_ID], "created_at": now, "updated_at": now},
        {"type": "session", "id": good, **session},
        {"type": "session", "id": bad, **{**session, "agent_name": AWS_ID}},
        message(good, 1, f"my key is {ANTHROPIC} and my card 4111 1111 1111 1111"),
        message(good, 2, "hello there"),
        message(good, 3, "done", name=AWS_ID),
        message(bad, 1, "a message of a refused session"),
        {
            "type": "summary",
            "session_id": good,
            "content": "User said password=hunter2",
            "covers_through_seq": 1,
            "source": "host",
            "tokens": 5,
            "created_at": now,
        },
        checkpoint(1, "deploy", {"env": {"AWS": AWS_ID}}),
        checkpoint(2, AWS_ID, {"ok": 1}),
        checkpoint(3, "mail", {"to": "bob@example.com"}),
        tool_call("http", f"Authorization: Bearer {BEARER}"),
        tool_call(AWS_ID, "{}"),
        tool_call("send_mail", "to bob@example.com"),
    ]
    header = {"type": "header", "format": "memory-server-export", "version": 1, "counts": {"all": len(records)}}
    path = tmp_path / "crafted.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in [header, *records]) + "\n", encoding="utf-8")
    return path


def test_import_puts_every_record_through_the_policy_of_the_tools(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, out = run("import", str(_export(tmp_path)), "--json")
    assert code == 0, out
    assert not any(secret in out for secret in SECRETS), out
    report = json.loads(out[out.index("{") : out.rindex("}") + 1])
    assert {kind: (c["created"], c["skipped"]) for kind, c in report["counts"].items()} == {
        "fact": (1, 1),
        "session": (1, 1),
        "message": (1, 3),  # the refused session's message is skipped with it
        "summary": (0, 1),
        "checkpoint": (1, 2),
        "tool_call": (1, 2),
    }
    assert counts(tmp_path) == {
        "facts": 1,
        "sessions": 1,
        "messages": 1,
        "summaries": 0,
        "checkpoints": 1,
        "tool_calls": 1,
    }
    code, shown = run("sessions", "show", "ses_" + "a" * 20, "--all", "--json")
    assert code == 0 and "hello there" in shown
    assert not any(secret in shown for secret in SECRETS), shown
    # Contacts follow the layer's rule as on the tools: redacted in checkpoints and tool calls.
    code, thread = run("threads", "show", "mail", "--state", "--json")
    assert code == 0 and "[email]" in thread and "bob@example.com" not in thread, thread


def test_scan_secrets_reports_records_stored_before_the_rules_per_layer_and_removes_them(
    run,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    assert run("facts", "add", "Works at ACME", "--tag", "work")[0] == 0
    assert run("facts", "add", "Likes green tea")[0] == 0
    session_id = "ses_" + "c" * 20
    now = time.time()

    async def store_as_an_older_version_did() -> None:
        async with Database.open(make_settings(tmp_path)) as db, db.write() as conn:
            await conn.execute(
                "UPDATE facts SET tags = ? WHERE content = 'Works at ACME'", [json.dumps([AWS_ID.lower()])]
            )
            await store.insert_session(
                conn,
                "alice",
                {
                    "id": session_id,
                    "agent_name": AWS_ID,
                    "created_at": now,
                    "last_active_at": now,
                    "ttl_hours": 720.0,
                    "expires_at": now + 86_400,
                    "message_count": 2,
                    "tokens": 2,
                    "cost_usd": 0.0,
                    "compacted_through_seq": 0,
                    "compacted_tokens": 0,
                },
            )
            for seq, content in ((1, "AKIA IOSF ODNN 7EXA MPLE"), (2, "hello")):
                await store.insert_message(
                    conn,
                    "alice",
                    {
                        "session_id": session_id,
                        "seq": seq,
                        "role": "user",
                        "name": None,
                        "content": content,
                        "tokens": 1,
                        "cost_usd": 0.0,
                        "created_at": now,
                        "said_at": None,
                        "compacted": False,
                    },
                )
            await store.insert_summary(
                conn,
                "alice",
                {
                    "session_id": session_id,
                    "content": "they said password=hunter2",
                    "covers_through_seq": 1,
                    "source": "host",
                    "tokens": 5,
                    "created_at": now,
                },
            )
            await store.insert_tool_call(
                conn,
                "alice",
                {
                    **dict.fromkeys(store.TOOL_CALL_FIELDS),
                    "session_id": session_id,
                    "tool_name": "http",
                    "status": "ok",
                    "input": f"Authorization: Bearer {BEARER}",
                    "created_at": now,
                },
            )
            state = canonical_json({"pw": "hunter2x9"})
            await store.insert_checkpoint(
                conn,
                "alice",
                {
                    "id": 1,
                    "thread_id": "t",
                    "parent_id": None,
                    "step": 1,
                    "label": None,
                    "session_id": None,
                    "state": state,
                    "size": len(state),
                    "hash": content_hash(state),
                    "created_at": now,
                },
                keep_id=True,
            )

    asyncio.run(store_as_an_older_version_did())
    code, table = run("scan-secrets")
    assert code == 1 and "tool_calls" in table and "scan-secrets --remove" in table, table
    code, out = run("scan-secrets", "--json")
    assert code == 1, out
    report = json.loads(out)
    found = {layer["layer"]: layer["refused"] for layer in report["layers"]}
    assert found == {"facts": 1, "sessions": 1, "messages": 1, "summaries": 1, "checkpoints": 1, "tool_calls": 1}
    assert not any(secret in out for secret in SECRETS)
    assert counts(tmp_path)["messages"] == 2  # a scan alone changes nothing

    code, out = run("scan-secrets", "--remove", "--json")
    assert code == 0, out
    assert json.loads(out)["removed"] == 6
    assert counts(tmp_path) == {
        "facts": 1,
        "sessions": 1,
        "messages": 1,
        "summaries": 0,
        "checkpoints": 0,
        "tool_calls": 0,
    }
    code, audit = run("audit", "list", "--json")
    removed = [row for row in json.loads(audit) if row["action"] == "privacy.removed"]
    layers = ["checkpoints", "facts", "messages", "sessions", "summaries", "tool_calls"]
    assert sorted(row["detail"]["layer"] for row in removed) == layers
    assert run("audit", "verify")[0] == 0
    code, out = run("scan-secrets", "--json")
    assert code == 0 and json.loads(out)["refused"] == 0
