"""`memory-server backup`: a consistent copy, encrypted with the same key, taken while another
connection keeps writing."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from memory_server.app import Memory, open_memory
from memory_server.cli import main as cli
from memory_server.config import Settings
from memory_server.embeddings import FakeEncoder, ReadyEmbedder
from memory_server.errors import StoreError, WrongKeyError
from memory_server.memory.facts import NewFact
from memory_server.store import connection
from memory_server.store.backup import backup, row_counts
from memory_server.store.database import resolve_key
from memory_server.store.keys import raw_key
from tests.conftest import make_settings


async def test_a_backup_taken_while_another_connection_writes_is_one_consistent_encrypted_snapshot(
    memory: Memory, settings: Settings, tmp_path: Path
) -> None:
    key = resolve_key(settings)
    dest = tmp_path / "copies" / "memory-backup.db"
    dest.parent.mkdir()
    written = 0
    copying = asyncio.Event()
    done = asyncio.Event()

    async def writer() -> None:
        nonlocal written
        while not done.is_set() or written < 60:
            await memory.facts.remember("alice", NewFact(f"Fact {written}: measured value {written * 17} units"))
            written += 1
            if written == 20:
                copying.set()

    async def copier() -> tuple[int, object]:
        await copying.wait()
        started_at = written
        try:
            return started_at, await asyncio.to_thread(backup, settings.database_path, key, dest)
        finally:
            done.set()

    (started_at, result), _ = await asyncio.gather(copier(), writer())

    copy = connection.connect(dest, key)
    try:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        counts = row_counts(copy)
        facts = copy.execute("SELECT count(*) FROM facts").fetchone()[0]
        vectors = copy.execute("SELECT count(*) FROM fact_vectors").fetchone()[0]
        audited = copy.execute("SELECT count(*) FROM audit_log WHERE action = 'fact.created'").fetchone()[0]
    finally:
        copy.close()
    assert counts == result.rows  # type: ignore[attr-defined]
    assert facts == vectors == audited  # each fact with its vector and audit row: no torn write
    assert started_at <= facts < written  # the writer went on during and after the copy
    assert await memory.facts.count("alice") == written
    assert dest.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in dest.parent.iterdir()) == ["memory-backup.db"]  # no partial files left
    with pytest.raises(WrongKeyError):
        connection.connect(dest, raw_key("ab" * 32, "another key"))
    assert not dest.read_bytes().startswith(b"SQLite format 3")


async def test_a_backup_refuses_to_overwrite_a_file_unless_forced(memory: Memory, settings: Settings) -> None:
    await memory.facts.remember("alice", NewFact("Prefers tea"))
    key = resolve_key(settings)
    dest = settings.database_path.with_name("copy.db")
    dest.write_text("precious")

    with pytest.raises(StoreError, match="already exists"):
        await asyncio.to_thread(backup, settings.database_path, key, dest)
    assert dest.read_text() == "precious"
    with pytest.raises(StoreError, match="the database itself"):
        await asyncio.to_thread(backup, settings.database_path, key, settings.database_path, force=True)

    result = await asyncio.to_thread(backup, settings.database_path, key, dest, force=True)
    assert result.rows["facts"] == 1
    assert result.integrity == "ok"


def test_the_cli_backup_makes_a_copy_that_opens_with_the_same_key(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "home")

    async def seed() -> None:
        async with open_memory(settings, embedder=ReadyEmbedder(FakeEncoder())) as memory:
            await memory.facts.remember(memory.user_id, NewFact("Prefers tea"))

    asyncio.run(seed())
    runner = CliRunner()
    flags = ["--home", str(tmp_path / "home"), "--user", "alice"]
    dest = tmp_path / "backup.db"

    made = runner.invoke(cli, [*flags, "backup", str(dest), "--json"])
    assert made.exit_code == 0, made.output
    report = json.loads(made.output)
    assert report["integrity"] == "ok"
    assert report["rows"]["facts"] == 1
    again = runner.invoke(cli, [*flags, "backup", str(dest)])
    assert again.exit_code == 1
    assert "already exists" in again.output
    forced = runner.invoke(cli, [*flags, "backup", str(dest), "--force"])
    assert forced.exit_code == 0, forced.output

    restored = runner.invoke(cli, [*flags, "--db", str(dest), "facts", "list", "--json"])
    assert restored.exit_code == 0, restored.output
    assert "Prefers tea" in restored.output
