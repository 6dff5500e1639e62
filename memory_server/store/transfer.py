"""SQL for export, import, reindex and stats: whole-table reads in id order and inserts that keep
the stored metadata. Every query filters by user, except the file-wide counts of `stats`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiosqlite

from memory_server.store import ids, vector_log
from memory_server.store.facts import pack_vector
from memory_server.store.sql import fetch_all

Record = dict[str, Any]

FACT_FIELDS = (
    "id",
    "content",
    "category",
    "tags",
    "importance",
    "created_at",
    "updated_at",
    "last_accessed_at",
    "access_count",
    "expires_at",
    "supersedes",
    "superseded_by",
    "source_session",
)
SESSION_FIELDS = (
    "id",
    "agent_name",
    "created_at",
    "last_active_at",
    "ttl_hours",
    "expires_at",
    "message_count",
    "tokens",
    "cost_usd",
    "compacted_through_seq",
    "compacted_tokens",
)
MESSAGE_FIELDS = (
    "session_id",
    "seq",
    "role",
    "name",
    "content",
    "tokens",
    "cost_usd",
    "created_at",
    "compacted",
    "said_at",
)
SUMMARY_FIELDS = ("session_id", "content", "covers_through_seq", "source", "tokens", "created_at")
CHECKPOINT_FIELDS = (
    "id",
    "thread_id",
    "parent_id",
    "step",
    "label",
    "session_id",
    "state",
    "size",
    "hash",
    "created_at",
)
TOOL_CALL_FIELDS = (
    "session_id",
    "tool_name",
    "status",
    "input",
    "input_length",
    "input_hash",
    "output",
    "output_length",
    "output_hash",
    "duration_ms",
    "tokens",
    "cost_usd",
    "created_at",
)

# (type, table, fields, order): what an export holds, in the order it is written.
SECTIONS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("fact", "facts", FACT_FIELDS, "id"),
    ("session", "sessions", SESSION_FIELDS, "id"),
    ("message", "messages", MESSAGE_FIELDS, "session_id, seq"),
    ("summary", "summaries", SUMMARY_FIELDS, "session_id, id"),
    ("checkpoint", "checkpoints", CHECKPOINT_FIELDS, "id"),
    ("tool_call", "tool_calls", TOOL_CALL_FIELDS, "session_id, id"),
)


async def has_table(conn: aiosqlite.Connection, name: str) -> bool:
    rows = await fetch_all(conn, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [name])
    return bool(rows)


async def columns(conn: aiosqlite.Connection, table: str) -> list[str]:
    return [row[1] for row in await fetch_all(conn, f"PRAGMA table_info({table})")]


async def count(conn: aiosqlite.Connection, table: str, user_id: str) -> int:
    return int((await fetch_all(conn, f"SELECT count(*) FROM {table} WHERE user_id = ?", [user_id]))[0][0])


async def records(
    conn: aiosqlite.Connection, table: str, fields: Sequence[str], order: str, user_id: str
) -> AsyncIterator[Record]:
    """Every row of the user in `table`, streamed (the cursor fetches a few hundred at a time)."""
    async with conn.execute(
        f"SELECT {', '.join(fields)} FROM {table} WHERE user_id = ? ORDER BY {order}", [user_id]
    ) as cursor:
        async for row in cursor:
            yield dict(zip(fields, row, strict=True))


# -- import ------------------------------------------------------------------------------


async def insert_fact_metadata(conn: aiosqlite.Connection, fact_id: int, record: Record) -> None:
    """Give a just-inserted fact the times and use counts it had where it came from."""
    await conn.execute(
        "UPDATE facts SET created_at = ?, updated_at = ?, last_accessed_at = ?, access_count = ? WHERE id = ?",
        (record["created_at"], record["updated_at"], record["last_accessed_at"], record["access_count"], fact_id),
    )


async def link_superseded(conn: aiosqlite.Connection, old_id: int, new_id: int) -> None:
    """Record that `new_id` replaced `old_id`, keeping links already there and the times as they are."""
    await conn.execute("UPDATE facts SET superseded_by = ? WHERE id = ? AND superseded_by IS NULL", (new_id, old_id))
    await conn.execute("UPDATE facts SET supersedes = ? WHERE id = ? AND supersedes IS NULL", (old_id, new_id))


async def session_exists(conn: aiosqlite.Connection, session_id: str) -> bool:
    return bool(await fetch_all(conn, "SELECT 1 FROM sessions WHERE id = ?", [session_id]))


async def insert_session(conn: aiosqlite.Connection, user_id: str, record: Record) -> None:
    await conn.execute(
        f"INSERT INTO sessions (user_id, {', '.join(SESSION_FIELDS)}) VALUES (?{', ?' * len(SESSION_FIELDS)})",
        [user_id, *(record[name] for name in SESSION_FIELDS)],
    )


async def _insert_with_new_id(
    conn: aiosqlite.Connection, table: str, fields: Sequence[str], user_id: str, record: Record
) -> int:
    [row_id] = await ids.allocate(conn, table, user_id)
    await conn.execute(
        f"INSERT INTO {table} (id, user_id, {', '.join(fields)}) VALUES (?, ?{', ?' * len(fields)})",
        [row_id, user_id, *(record[name] for name in fields)],
    )
    return row_id


async def insert_message(conn: aiosqlite.Connection, user_id: str, record: Record) -> None:
    await _insert_with_new_id(conn, "messages", MESSAGE_FIELDS, user_id, record)


async def insert_summary(conn: aiosqlite.Connection, user_id: str, record: Record) -> None:
    await _insert_with_new_id(conn, "summaries", SUMMARY_FIELDS, user_id, record)


async def insert_tool_call(conn: aiosqlite.Connection, user_id: str, record: Record) -> None:
    await _insert_with_new_id(conn, "tool_calls", TOOL_CALL_FIELDS, user_id, record)


async def same_checkpoint(conn: aiosqlite.Connection, user_id: str, record: Record) -> int | None:
    """A stored checkpoint with the same thread, step, content and time: the one being imported."""
    rows = await fetch_all(
        conn,
        "SELECT id FROM checkpoints WHERE user_id = ? AND thread_id = ? AND step = ? AND hash = ? AND created_at = ? "
        "ORDER BY id LIMIT 1",
        [user_id, record["thread_id"], record["step"], record["hash"], record["created_at"]],
    )
    return int(rows[0][0]) if rows else None


async def checkpoint_id_taken(conn: aiosqlite.Connection, checkpoint_id: int) -> bool:
    return bool(await fetch_all(conn, "SELECT 1 FROM checkpoints WHERE id = ?", [checkpoint_id]))


async def insert_checkpoint(conn: aiosqlite.Connection, user_id: str, record: Record, *, keep_id: bool) -> int:
    """Under its own id when `keep_id` (and the id is one JavaScript reads exactly), else a new one."""
    if not (keep_id and 0 < record["id"] < ids.SPACE):
        return await _insert_with_new_id(conn, "checkpoints", CHECKPOINT_FIELDS[1:], user_id, record)
    await conn.execute(
        f"INSERT INTO checkpoints (user_id, {', '.join(CHECKPOINT_FIELDS)}) VALUES (?{', ?' * len(CHECKPOINT_FIELDS)})",
        [user_id, *(record[name] for name in CHECKPOINT_FIELDS)],
    )
    await ids.keep(conn, "checkpoints", user_id, record["id"])
    return int(record["id"])


# -- reindex -----------------------------------------------------------------------------


async def facts_after(conn: aiosqlite.Connection, after_id: int, limit: int) -> list[tuple[int, str, str]]:
    """(id, user_id, content) of the next facts of every user, in id order."""
    rows = await fetch_all(
        conn, "SELECT id, user_id, content FROM facts WHERE id > ? ORDER BY id LIMIT ?", [after_id, limit]
    )
    return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]


async def count_facts_after(conn: aiosqlite.Connection, after_id: int) -> int:
    return int((await fetch_all(conn, "SELECT count(*) FROM facts WHERE id > ?", [after_id]))[0][0])


async def recreate_vectors(conn: aiosqlite.Connection, dimension: int) -> None:
    """A new, empty vector table of another dimension (vec0 cannot change a column's size)."""
    await conn.execute("DROP TABLE IF EXISTS fact_vectors")
    await conn.execute(
        f"""CREATE VIRTUAL TABLE fact_vectors USING vec0(
            fact_id INTEGER PRIMARY KEY,
            user_id TEXT PARTITION KEY,
            embedding float[{int(dimension)}] distance_metric=cosine
        )"""
    )
    await vector_log.restart(conn)


async def replace_vectors(conn: aiosqlite.Connection, vectors: Sequence[tuple[int, str, Sequence[float]]]) -> None:
    ids = [fact_id for fact_id, _, _ in vectors]
    if not ids:
        return
    marks = ",".join("?" * len(ids))
    # A fact forgotten since it was read gets no vector.
    still = {row[0] for row in await fetch_all(conn, f"SELECT id FROM facts WHERE id IN ({marks})", ids)}
    await conn.execute(f"DELETE FROM fact_vectors WHERE fact_id IN ({marks})", ids)
    await conn.executemany(
        "INSERT INTO fact_vectors (fact_id, user_id, embedding) VALUES (?, ?, ?)",
        [(fact_id, user_id, pack_vector(vector)) for fact_id, user_id, vector in vectors if fact_id in still],
    )
    await vector_log.record_rewritten(conn, [(fact_id, user_id) for fact_id, user_id, _ in vectors if fact_id in still])
