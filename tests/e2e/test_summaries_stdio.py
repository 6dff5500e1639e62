"""Summaries that keep what was said, and consolidation into facts, as a host sees them:
`memory-server` over stdio, the official MCP client, the real embedding model."""

from __future__ import annotations

from pathlib import Path

import pytest

from memory_server.memory.audit import AuditService
from memory_server.store import Database
from tests.conftest import make_settings
from tests.stdio import call, stdio_client

pytestmark = pytest.mark.e2e

TALK = [
    ("Caroline", "Hey Mel! Good to see you! How have you been?"),
    ("Melanie", "Hey Caroline! I'm swamped with the kids & work. What's up with you?"),
    ("Caroline", "I went to an LGBTQ support group yesterday and it was so powerful."),
    ("Melanie", "Wow, that's cool, Caroline! That must have been hilarious!"),
    ("Caroline", "I'm keen on counseling or working in mental health, to support people like me."),
    ("Melanie", "Yeah, I painted that lake sunrise last year! It's special to me."),
]


async def test_a_named_conversation_is_summarized_by_name_and_day_and_consolidated_then_undone(
    tmp_path: Path,
) -> None:
    messages = [{"role": "user", "name": n, "content": c, "time": "2023-05-08T13:56:00Z"} for n, c in TALK]
    messages.append({"role": "assistant", "content": "I am an assistant and I don't have feelings of my own."})
    async with stdio_client(tmp_path) as client:
        session_id = (await call(client, "append_messages", messages=messages))["session_id"]
        window = await call(client, "get_session_context", session_id=session_id)
        assert window["messages"][0]["said_at"] == "2023-05-08T13:56:00Z"

        done = await call(client, "summarize_session", session_id=session_id, keep_recent=0)
        lines = done["summary"].splitlines()
        assert lines[0] == "8 May 2023:"
        assert "- Caroline: I went to an LGBTQ support group yesterday and it was so powerful." in lines
        assert "- Melanie: Yeah, I painted that lake sunrise last year!" in lines
        assert "hilarious" not in done["summary"] and "Good to see you" not in done["summary"]

        made = done["consolidated"]
        assert made["created"] and made["merged"] == [] and made["skipped"] == 0
        hits = (await call(client, "search_facts", query="When did Caroline go to the support group?"))["hits"]
        top = hits[0]["fact"]
        assert top["content"] == (
            "On 8 May 2023, Caroline said: I went to an LGBTQ support group yesterday and it was so powerful."
        )
        assert (top["category"], top["source_session"], top["id"] in made["created"]) == (
            "conversation",
            session_id,
            True,
        )
        assert not any("assistant" in hit["fact"]["content"] for hit in hits)

        async with Database.open(make_settings(tmp_path)) as db:
            entries = await AuditService(db).entries("alice", session_id=session_id)
        consolidated = [e for e in entries if e.action == "session.consolidated"]
        assert [sorted(e.ids) for e in consolidated] == [sorted(made["created"])]

        preview = await call(client, "forget_fact", session_id=session_id, dry_run=True)
        assert sorted(preview["deleted"]) == sorted(made["created"])
        gone = await call(client, "forget_fact", session_id=session_id)
        assert sorted(gone["deleted"]) == sorted(made["created"])
        hits = (await call(client, "search_facts", query="Caroline support group"))["hits"]
        assert hits == []
