"""What an operator with the database but not the key sees: no text the user gave."""

from pathlib import Path

import psycopg

from memory_server.memory.text import same_statement_form, words
from memory_server.store.keys import raw_key
from memory_server.store.postgres.pool import PostgresDatabase
from memory_server.store.postgres.schema import apply_schema
from memory_server.store.postgres.sealing import DirectoryKeyStore, Sealer, wrapping_key
from tests.postgres.test_base import CONTEXT

FACT = "Zanzibar trip booked with Quetzalcoatl Airways"
TABLES = ("facts", "sessions", "messages", "summaries", "checkpoints", "tool_calls", "audit_log", "meta")
MESSAGE = "remind me about the xylophone recital"


async def test_an_operator_reading_every_table_with_plain_sql_finds_none_of_the_text(
    database: PostgresDatabase, fresh_url: str, tmp_path: Path
) -> None:
    await apply_schema(database, CONTEXT)
    keys = Sealer(wrapping_key(raw_key("ab" * 32, "test")), DirectoryKeyStore(tmp_path / "keys")).keys_for("alice")
    async with database.unit_of_work() as connection:
        cursor = await connection.execute("SELECT nextval(pg_get_serial_sequence('facts', 'id'))")
        row = await cursor.fetchone()
        assert row is not None
        fact_id = row[0]
        await connection.execute(
            "INSERT INTO facts (id, user_id, content, content_key, terms, embedding, importance, created_at, "
            "updated_at) VALUES (%s, 'alice', %s, %s, %s, %s::vector, 0.5, 1, 1)",
            (
                fact_id,
                keys.seal("facts", fact_id, FACT),
                keys.content_key(same_statement_form(FACT)),
                keys.blind_index(words(FACT)),
                str([0.1] * 384),
            ),
        )
        await connection.execute(
            "INSERT INTO sessions (id, user_id, created_at, last_active_at, ttl_hours, expires_at) "
            "VALUES ('s1', 'alice', 1, 1, 24, 2)"
        )
        await connection.execute(
            "INSERT INTO messages (id, session_id, user_id, seq, role, content, tokens, created_at) "
            "VALUES (1, 's1', 'alice', 1, 'user', %s, 9, 1)",
            (keys.seal("messages", 1, MESSAGE),),
        )

    with psycopg.connect(fresh_url) as operator:
        dump = "\n".join(
            str(row)
            for table in (
                "facts",
                "sessions",
                "messages",
                "summaries",
                "checkpoints",
                "tool_calls",
                "audit_log",
                "meta",
            )
            for row in operator.execute(f"SELECT * FROM {table}").fetchall()
        ).casefold()
        raw_pages = operator.execute("SELECT string_agg(encode(content, 'escape'), '') FROM facts").fetchone()
    assert "alice" in dump  # the dump did read the rows
    for word in (*words(FACT), *words(MESSAGE)):
        if len(word) > 3:
            assert word not in dump
    assert raw_pages is not None
    assert "zanzibar" not in str(raw_pages[0]).casefold()

    async with database.unit_of_work() as connection:  # with the key, keyword search works on ciphertext
        cursor = await connection.execute(
            "SELECT id, content FROM facts WHERE user_id = 'alice' AND terms && %s",
            ([keys.blind_term("zanzibar")],),
        )
        found = await cursor.fetchall()
    assert [(found_id, keys.open("facts", found_id, content)) for found_id, content in found] == [(fact_id, FACT)]
