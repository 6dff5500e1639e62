import hashlib
from pathlib import Path

import pytest

from memory_server.app import open_memory
from memory_server.config import Settings
from memory_server.embeddings import FakeEncoder, ReadyEmbedder
from memory_server.errors import ModelMismatchError, WrongKeyError
from memory_server.store import Database
from memory_server.store.migrations import MIGRATIONS
from tests.conftest import make_settings
from tests.store.conftest import OpenStore


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_a_fresh_database_is_created_with_an_owner_only_key_file(settings: Settings) -> None:
    async with Database.open(settings) as db:
        assert await db.applied_migrations() == [m.name for m in MIGRATIONS]
    assert settings.key_file_path.stat().st_mode & 0o777 == 0o600
    assert settings.database_path.stat().st_mode & 0o777 == 0o600


async def test_a_wrong_passphrase_is_refused_and_the_file_is_unchanged(tmp_path: Path) -> None:
    right = make_settings(tmp_path, passphrase="correct horse")
    async with open_memory(right, embedder=ReadyEmbedder(FakeEncoder())) as memory:
        await memory.facts.remember("alice", __import__("memory_server.memory.facts").memory.facts.NewFact("x y z"))
    before = file_hash(right.database_path)
    wrong = make_settings(tmp_path, passphrase="wrong horse")
    with pytest.raises(WrongKeyError, match="does not match"):
        async with Database.open(wrong):
            pass
    assert file_hash(right.database_path) == before


async def test_a_file_that_is_not_a_database_is_refused_untouched(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    settings.database_path.write_bytes(b"just some notes, not sqlite" * 100)
    settings.key_file_path.write_text("ab" * 32)
    settings.key_file_path.chmod(0o600)
    before = file_hash(settings.database_path)
    with pytest.raises(WrongKeyError, match="not a memory-server database"):
        async with Database.open(settings):
            pass
    assert file_hash(settings.database_path) == before


async def test_a_database_embedded_with_another_model_is_refused_with_the_fix(tmp_path: Path, store: OpenStore) -> None:
    async with store(make_settings(tmp_path)):
        pass
    other = make_settings(tmp_path, embeddings={"model": "/models/other", "dimension": 384})
    with pytest.raises(ModelMismatchError, match="memory-server reindex"):
        async with store(other):
            pass


async def test_reopening_applies_no_migration_twice(settings: Settings, store: OpenStore) -> None:
    async with store(settings):
        pass
    async with store(settings) as db:
        assert await db.applied_migrations() == [m.name for m in MIGRATIONS]
