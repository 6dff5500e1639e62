"""`memory-server rekey`: the key changes atomically, the old key stops opening the file, and
an interrupted rekey always leaves a key that opens it (and the next open finishes the job)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from memory_server.app import Memory, open_memory
from memory_server.cli import main as cli
from memory_server.config import Settings
from memory_server.embeddings import FakeEncoder, ReadyEmbedder
from memory_server.errors import StoreBusyError, StoreError, WrongKeyError
from memory_server.memory.facts import NewFact
from memory_server.store import Database
from memory_server.store import rekey as keys_ops
from memory_server.store.database import resolve_key
from memory_server.store.keys import DatabaseKey, key_file_key, passphrase_key
from tests.conftest import make_settings

FACT = "Keeps the spare house key with the neighbour"


async def seed(settings: Settings) -> None:
    async with open_memory(settings, embedder=ReadyEmbedder(FakeEncoder())) as memory:
        await memory.facts.remember(memory.user_id, NewFact(FACT))


async def facts_in(settings: Settings, key: DatabaseKey | None = None) -> list[str]:
    async with Database.open(settings, key=key) as db, db.read() as conn:
        return [row[0] for row in await db.fetchall(conn, "SELECT content FROM facts")]


def leftovers(settings: Settings) -> list[Path]:
    key_file = settings.key_file_path
    return [p for p in (keys_ops.new_key_file(key_file), keys_ops.old_key_file(key_file)) if p.exists()]


async def test_rekey_to_a_new_key_file_leaves_the_old_key_unable_to_open_the_file(settings: Settings) -> None:
    await seed(settings)
    old_key = resolve_key(settings)
    old_text = settings.key_file_path.read_text()

    result = keys_ops.rekey(settings, old_key)

    assert settings.key_file_path.read_text() != old_text
    assert settings.key_file_path.stat().st_mode & 0o777 == 0o600
    assert leftovers(settings) == []
    assert not keys_ops.opens(settings.database_path, old_key)
    with pytest.raises(WrongKeyError):
        await facts_in(settings, key=old_key)
    assert await facts_in(settings) == [FACT]
    assert result.new_source == f"key file {settings.key_file_path}"


async def test_rekey_is_refused_while_a_server_has_the_database_open(memory: Memory, settings: Settings) -> None:
    await memory.facts.remember("alice", NewFact(FACT))
    key_text = settings.key_file_path.read_text()

    with pytest.raises(StoreBusyError, match=r"Another process has .* open"):
        keys_ops.rekey(settings, resolve_key(settings), wait_ms=100)

    assert settings.key_file_path.read_text() == key_text
    assert leftovers(settings) == []
    assert (await memory.facts.count("alice")) == 1


async def test_rekey_to_a_passphrase_and_back_to_a_key_file(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    await seed(settings)
    file_key = resolve_key(settings)

    keys_ops.rekey(settings, file_key, new_passphrase="correct horse battery staple")

    assert not settings.key_file_path.exists()  # it no longer opens anything
    with_passphrase = make_settings(tmp_path, passphrase="correct horse battery staple")
    assert await facts_in(with_passphrase) == [FACT]
    assert not keys_ops.opens(settings.database_path, file_key)
    with pytest.raises(StoreError):
        keys_ops.rekey(settings, passphrase_key("correct horse battery staple"), new_passphrase="")

    keys_ops.rekey(settings, passphrase_key("correct horse battery staple"))

    assert await facts_in(settings) == [FACT]
    assert not keys_ops.opens(settings.database_path, passphrase_key("correct horse battery staple"))


async def test_a_crash_after_the_rekey_before_the_key_file_swap_is_finished_by_the_next_open(
    settings: Settings,
) -> None:
    await seed(settings)
    old_key = resolve_key(settings)
    with keys_ops.exclusive(settings.database_path, old_key) as conn:
        plan = keys_ops.stage(settings, old_key, None)
        keys_ops.apply(conn, plan)
    # The process dies here: memory.key holds the old key, memory.key.new the one that opens.
    new_file = keys_ops.new_key_file(settings.key_file_path)
    assert not keys_ops.opens(settings.database_path, old_key)
    assert keys_ops.opens(settings.database_path, key_file_key(new_file, database_exists=True))
    new_text = new_file.read_text()

    assert await facts_in(settings) == [FACT]

    assert settings.key_file_path.read_text() == new_text
    assert leftovers(settings) == []
    assert not keys_ops.opens(settings.database_path, old_key)


async def test_a_crash_before_the_rekey_leaves_the_old_key_working_and_the_leftovers_are_removed(
    settings: Settings,
) -> None:
    await seed(settings)
    old_key = resolve_key(settings)
    key_text = settings.key_file_path.read_text()
    with keys_ops.exclusive(settings.database_path, old_key):
        keys_ops.stage(settings, old_key, None)
    assert len(leftovers(settings)) == 2

    assert await facts_in(settings) == [FACT]

    assert settings.key_file_path.read_text() == key_text
    assert leftovers(settings) == []
    keys_ops.rekey(settings, old_key)  # and a new rekey goes through
    assert await facts_in(settings) == [FACT]


def test_the_cli_rekeys_to_a_passphrase_and_back(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    asyncio.run(seed(settings))
    runner = CliRunner()
    flags = ["--home", str(tmp_path), "--user", "alice"]

    rekeyed = runner.invoke(cli, [*flags, "rekey"])
    assert rekeyed.exit_code == 0, rekeyed.output
    assert "no longer opens it" in rekeyed.output

    to_phrase = runner.invoke(
        cli, [*flags, "rekey", "--to-passphrase"], env={"MEMORY_SERVER_NEW_PASSPHRASE": "a long new passphrase"}
    )
    assert to_phrase.exit_code == 0, to_phrase.output
    assert "Set MEMORY_SERVER_PASSPHRASE" in to_phrase.output
    refused = runner.invoke(cli, [*flags, "facts", "list"])
    assert refused.exit_code == 1

    back = runner.invoke(cli, [*flags, "rekey", "--from-passphrase"], input="a long new passphrase\n")
    assert back.exit_code == 0, back.output
    listed = runner.invoke(cli, [*flags, "facts", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    assert FACT in listed.output


CRASH_AFTER_REKEY = """
import os, sys
from pathlib import Path
from memory_server.config import Settings
from memory_server.store import rekey as keys_ops
from memory_server.store.database import resolve_key

settings = Settings.model_validate({"home": Path(sys.argv[1]), "user": "alice"})
old_key = resolve_key(settings)
with keys_ops.exclusive(settings.database_path, old_key) as conn:
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    plan = keys_ops.stage(settings, old_key, None)
    keys_ops.apply(conn, plan)
    os._exit(9)  # killed: no key file swap, no close, no WAL checkpoint
"""


def test_a_process_killed_right_after_the_rekey_leaves_a_database_the_new_key_file_opens(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    asyncio.run(seed(settings))
    old_key = resolve_key(settings)

    crashed = subprocess.run([sys.executable, "-c", CRASH_AFTER_REKEY, str(tmp_path)], check=False, timeout=60)

    assert crashed.returncode == 9
    new_file = keys_ops.new_key_file(settings.key_file_path)
    assert not keys_ops.opens(settings.database_path, old_key)
    assert keys_ops.opens(settings.database_path, key_file_key(new_file, database_exists=True))
    assert asyncio.run(facts_in(settings)) == [FACT]
    assert leftovers(settings) == []
    assert not keys_ops.opens(settings.database_path, old_key)


async def test_opening_while_a_rekey_holds_the_database_says_busy_not_wrong_key(settings: Settings) -> None:
    await seed(settings)
    quick = make_settings(settings.home, store={"busy_timeout_ms": 100, "synchronous": "NORMAL"})
    with (
        keys_ops.exclusive(settings.database_path, resolve_key(settings)),
        pytest.raises(StoreBusyError, match="locked"),
    ):
        await facts_in(quick)
    assert await facts_in(settings) == [FACT]
