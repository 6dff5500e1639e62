import asyncio

import psycopg
import pytest

from memory_server.errors import StoreBusyError
from memory_server.store.migrations import SchemaContext
from memory_server.store.postgres.pool import PostgresDatabase
from memory_server.store.postgres.schema import POSTGRES_MIGRATIONS, apply_schema

CONTEXT = SchemaContext(embedding_dimension=384)


async def test_the_schema_steps_create_every_layer_with_a_user_column(database: PostgresDatabase) -> None:
    applied = await apply_schema(database, CONTEXT)
    assert applied == [step.name for step in POSTGRES_MIGRATIONS]
    async with database.unit_of_work() as connection:
        cursor = await connection.execute(
            "SELECT table_name FROM information_schema.columns WHERE column_name = 'user_id' "
            "AND table_schema = 'public' ORDER BY table_name"
        )
        tables = [row[0] for row in await cursor.fetchall()]
        cursor = await connection.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'facts_by_meaning'")
        row = await cursor.fetchone()
    assert tables == ["audit_log", "checkpoints", "facts", "messages", "sessions", "summaries", "tool_calls"]
    assert row is not None
    assert "hnsw" in row[0]
    assert "vector_cosine_ops" in row[0]


async def test_applying_the_schema_twice_at_once_applies_each_step_once(fresh_url: str) -> None:
    first, second = PostgresDatabase(fresh_url), PostgresDatabase(fresh_url)
    await first.open()
    await second.open()
    try:
        results = await asyncio.gather(apply_schema(first, CONTEXT), apply_schema(second, CONTEXT))
    finally:
        await first.close()
        await second.close()
    assert sorted(results[0] + results[1]) == sorted(step.name for step in POSTGRES_MIGRATIONS)


async def _insert_then_update(database: PostgresDatabase) -> None:
    async with database.unit_of_work() as connection:
        await connection.execute("INSERT INTO meta (key, value) VALUES ('other', 'x')")
        await connection.execute("UPDATE meta SET value = 'new' WHERE key = 'k'")


async def test_a_lock_held_too_long_is_the_clear_retry_error_and_nothing_is_written(
    database: PostgresDatabase, fresh_url: str
) -> None:
    await apply_schema(database, CONTEXT)
    async with database.unit_of_work() as connection:
        await connection.execute("INSERT INTO meta (key, value) VALUES ('k', 'old')")
    async with await psycopg.AsyncConnection.connect(fresh_url) as holder:
        await holder.execute("SELECT * FROM meta WHERE key = 'k' FOR UPDATE")
        with pytest.raises(StoreBusyError, match="nothing was written"):
            await _insert_then_update(database)
        await holder.rollback()
    async with database.unit_of_work() as connection:
        cursor = await connection.execute("SELECT key, value FROM meta ORDER BY key")
        assert await cursor.fetchall() == [("k", "old")]
