"""Import goes through the tools' privacy policy: redacted records stay idempotent on a second
import, and knowledge-graph labels are checked before they are lower-cased."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memory_server.app import Memory
from memory_server.memory.checkpoints import canonical_json, content_hash
from memory_server.memory.transfer import import_lines, read_lines

ANTHROPIC = "sk-ant-api03-" + "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0"


def lines(path: Path) -> list[str]:
    return list(read_lines(path, passphrase=lambda: pytest.fail("not sealed")))


async def test_a_knowledge_graph_label_holding_a_secret_is_refused_before_it_is_lower_cased(
    memory: Memory, tmp_path: Path
) -> None:
    graph = [
        {"type": "entity", "name": "Deploy", "entityType": ANTHROPIC, "observations": ["Runs nightly"]},
        {"type": "entity", "name": "Alice", "entityType": "Person", "observations": ["Likes tea"]},
    ]
    path = tmp_path / "memory.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in graph) + "\n")
    report = await import_lines(memory, lines(path))
    assert (report.counts["observation"].created, report.counts["observation"].skipped) == (1, 1)
    assert "category contains an Anthropic API key" in report.notes[0]
    assert ANTHROPIC[13:].lower() not in " ".join(report.notes).lower()
    assert [fact.content for fact in await memory.facts.list_facts("alice")] == ["Alice: Likes tea"]


async def test_an_imported_checkpoint_is_redacted_like_a_saved_one_and_a_second_import_skips_it(
    memory: Memory, tmp_path: Path
) -> None:
    state = {"to": "bob@example.com", "step": 3}
    checkpoint = {
        "type": "checkpoint",
        "id": 7,
        "thread_id": "mail",
        "parent_id": None,
        "step": 3,
        "label": "mail bob@example.com",
        "session_id": None,
        "state": state,
        "hash": content_hash(canonical_json(state)),
        "created_at": memory.db.clock(),
    }
    header = {"type": "header", "format": "memory-server-export", "version": 1, "counts": {"checkpoint": 1}}
    path = tmp_path / "export.jsonl"
    path.write_text(json.dumps(header) + "\n" + json.dumps(checkpoint) + "\n")

    first = await import_lines(memory, lines(path))
    again = await import_lines(memory, lines(path))

    assert (first.counts["checkpoint"].created, again.counts["checkpoint"].skipped) == (1, 1)
    restored = await memory.checkpoints.restore("alice", "mail")
    assert (restored.state, restored.label, restored.verified) == ({"to": "[email]", "step": 3}, "mail [email]", True)
