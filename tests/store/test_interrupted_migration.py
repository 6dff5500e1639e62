"""A database left by an interrupted migration is completed by the next open, or refused with a
SchemaError; it is never used half-migrated."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from memory_server.config import Settings
from memory_server.errors import SchemaError
from memory_server.store import Database, connection
from memory_server.store import database as database_module
from memory_server.store.database import resolve_key
from memory_server.store.migrations import MIGRATIONS, Migration, SchemaContext

ALL_STEPS = [m.name for m in MIGRATIONS]


def on_disk(settings: Settings, sql: str) -> list[tuple[Any, ...]]:
    """Read the file with a plain connection: no migration runs."""
    raw = connection.connect(settings.database_path, resolve_key(settings))
    try:
        return [tuple(row) for row in raw.execute(sql).fetchall()]
    finally:
        raw.close()


def tables(settings: Settings) -> set[str]:
    return {row[0] for row in on_disk(settings, "SELECT name FROM sqlite_master WHERE type = 'table'")}


def schema(settings: Settings) -> set[tuple[str, str]]:
    """Every table with its definition: a step may add a table or a column."""
    return {(row[0], row[1]) for row in on_disk(settings, "SELECT name, sql FROM sqlite_master WHERE type = 'table'")}


def applied(settings: Settings) -> list[str]:
    return [row[0] for row in on_disk(settings, "SELECT name FROM schema_migrations ORDER BY name")]


async def test_a_database_stopped_after_its_first_schema_step_is_completed_by_the_next_open(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(database_module, "MIGRATIONS", MIGRATIONS[:1])
        async with Database.open(settings) as db, db.write() as conn:
            await conn.execute(
                "INSERT INTO facts (user_id, content, content_key, importance, created_at, updated_at) "
                "VALUES ('alice', 'kept', 'k', 0.5, 0, 0)"
            )
    assert applied(settings) == ALL_STEPS[:1]
    assert "checkpoints" not in tables(settings)

    async with Database.open(settings) as db:
        assert await db.applied_migrations() == ALL_STEPS
        assert await db.scalar("SELECT count(*) FROM checkpoints") == 0
        assert await db.scalar("SELECT content FROM facts") == "kept"
    assert on_disk(settings, "PRAGMA integrity_check") == [("ok",)]


def _migrate_and_die_inside_the_last_step(home: str) -> None:
    """A server killed (SIGKILL) after the last step's statements ran, before its commit."""
    from tests.conftest import make_settings

    real_connect = connection.connect

    def connect_with_crash(*args: Any, **kwargs: Any) -> Any:
        raw = real_connect(*args, **kwargs)
        raw.create_function("crash", 0, lambda: os.kill(os.getpid(), signal.SIGKILL))
        return raw

    last = MIGRATIONS[-1]

    def statements_then_crash(ctx: SchemaContext) -> list[str]:
        return [*last.statements(ctx), "SELECT crash()"]

    connection.connect = connect_with_crash
    setattr(database_module, "MIGRATIONS", (*MIGRATIONS[:-1], Migration(last.name, statements_then_crash)))  # noqa: B010

    async def open_it() -> None:
        async with Database.open(make_settings(Path(home))):
            pass

    asyncio.run(open_it())


async def test_a_server_killed_in_the_middle_of_a_schema_step_leaves_the_step_undone_and_the_next_open_redoes_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert settings.home is not None
    with monkeypatch.context() as patch:
        patch.setattr(database_module, "MIGRATIONS", MIGRATIONS[:-1])
        async with Database.open(settings):
            pass
    before_the_step = schema(settings)
    child = multiprocessing.get_context("fork").Process(
        target=_migrate_and_die_inside_the_last_step, args=(str(settings.home),)
    )
    child.start()
    await asyncio.to_thread(child.join, 60)
    assert child.exitcode == -signal.SIGKILL

    # Before the step, not in between: none of the last step's changes, no record of it.
    assert applied(settings) == ALL_STEPS[:-1]
    assert schema(settings) == before_the_step
    assert on_disk(settings, "PRAGMA integrity_check") == [("ok",)]

    async with Database.open(settings) as db:
        assert await db.applied_migrations() == ALL_STEPS
        assert schema(settings) != before_the_step


async def test_a_schema_step_that_fails_is_refused_with_a_schema_error_and_leaves_nothing_of_itself(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = Migration("999_broken", lambda ctx: ["CREATE TABLE half_done (x INTEGER)", "CREATE TABLE facts (x)"])
    monkeypatch.setattr(database_module, "MIGRATIONS", (*MIGRATIONS, broken))
    with pytest.raises(SchemaError, match=r"Schema step 999_broken failed .* left as it was before the step"):
        async with Database.open(settings):
            pass
    assert "half_done" not in tables(settings)
    assert applied(settings) == ALL_STEPS

    # Retried on every open, refused every time: the program never runs on the half schema.
    with pytest.raises(SchemaError):
        async with Database.open(settings):
            pass
    monkeypatch.setattr(database_module, "MIGRATIONS", MIGRATIONS)
    async with Database.open(settings) as db:
        assert await db.applied_migrations() == ALL_STEPS


async def test_a_database_migrated_by_a_newer_version_is_refused_untouched(settings: Settings) -> None:
    async with Database.open(settings) as db, db.write() as conn:
        await conn.execute("INSERT INTO schema_migrations (name, applied_at) VALUES ('999_future', 0)")
    before = settings.database_path.read_bytes()
    with pytest.raises(SchemaError, match=r"newer memory-server \(schema steps 999_future\). Upgrade memory-server"):
        async with Database.open(settings):
            pass
    assert settings.database_path.read_bytes() == before
