import random

from memory_server.store.postgres.pool import PostgresDatabase
from memory_server.store.postgres.schema import FILTERED_SEARCH_SETTINGS, apply_schema
from tests.postgres.test_base import CONTEXT


def _vector(rng: random.Random) -> str:
    return str([rng.uniform(-1, 1) for _ in range(CONTEXT.embedding_dimension)])


async def test_a_search_filtered_to_one_user_still_returns_its_full_count_through_the_hnsw_index(
    database: PostgresDatabase,
) -> None:
    await apply_schema(database, CONTEXT)
    rng = random.Random(14)
    async with database.unit_of_work() as connection:
        for index in range(1000):
            user = "alice" if index % 50 == 0 else "bob"  # alice owns 20 of 1000 rows
            await connection.execute(
                "INSERT INTO facts (user_id, content, content_key, embedding, importance, created_at, updated_at) "
                "VALUES (%s, '\\x00', %s, %s::vector, 0.5, 1, 1)",
                (user, index.to_bytes(4, "big"), _vector(rng)),
            )
    query = "SELECT id FROM facts WHERE user_id = 'alice' ORDER BY embedding <=> %s::vector LIMIT 15"
    async with database.unit_of_work() as connection:
        for forced in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):  # the HNSW index, as at 100k rows
            await connection.execute(f"SET LOCAL {forced} = off")
        for setting in FILTERED_SEARCH_SETTINGS:
            await connection.execute(setting)
        plan = await (await connection.execute("EXPLAIN " + query, (_vector(rng),))).fetchall()
        found = await (await connection.execute(query, (_vector(rng),))).fetchall()
    assert "facts_by_meaning" in " ".join(str(line) for line in plan)
    assert len(found) == 15
