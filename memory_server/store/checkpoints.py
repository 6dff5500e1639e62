"""SQL for checkpoints of threads. Every query filters by user, except the sweep of stale threads."""

from __future__ import annotations

from dataclasses import dataclass

import aiosqlite

from memory_server.store import ids
from memory_server.store.connection import MAX_ROWID
from memory_server.store.sql import fetch_all

CHECKPOINT_COLUMNS = "id, thread_id, parent_id, step, label, session_id, size, hash, created_at"


@dataclass(frozen=True)
class CheckpointRow:
    """A checkpoint without its state (listing never reads the state)."""

    id: int
    thread_id: str
    parent_id: int | None
    step: int
    label: str | None
    session_id: str | None
    size: int
    hash: str
    created_at: float


@dataclass(frozen=True)
class ThreadRow:
    thread_id: str
    checkpoints: int
    latest_id: int
    latest_step: int
    first_at: float
    last_at: float


async def insert_checkpoint(
    conn: aiosqlite.Connection,
    *,
    user_id: str,
    thread_id: str,
    parent_id: int | None,
    step: int,
    label: str | None,
    session_id: str | None,
    state: str,
    size: int,
    hash: str,
    now: float,
) -> int:
    [checkpoint_id] = await ids.allocate(conn, "checkpoints", user_id)
    await conn.execute(
        "INSERT INTO checkpoints (id, user_id, thread_id, parent_id, step, label, session_id, state, size, hash, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (checkpoint_id, user_id, thread_id, parent_id, step, label, session_id, state, size, hash, now),
    )
    return checkpoint_id


async def latest_checkpoints(
    conn: aiosqlite.Connection, user_id: str, thread_id: str, limit: int
) -> list[CheckpointRow]:
    """The thread's newest checkpoints, newest first."""
    rows = await fetch_all(
        conn,
        f"SELECT {CHECKPOINT_COLUMNS} FROM checkpoints WHERE user_id = ? AND thread_id = ? ORDER BY id DESC LIMIT ?",
        [user_id, thread_id, limit],
    )
    return [CheckpointRow(*row) for row in rows]


async def get_checkpoint(
    conn: aiosqlite.Connection, user_id: str, thread_id: str, checkpoint_id: int
) -> CheckpointRow | None:
    if not 0 < checkpoint_id <= MAX_ROWID:  # an id SQLite cannot hold names no checkpoint
        return None
    rows = await fetch_all(
        conn,
        f"SELECT {CHECKPOINT_COLUMNS} FROM checkpoints WHERE user_id = ? AND thread_id = ? AND id = ?",
        [user_id, thread_id, checkpoint_id],
    )
    return CheckpointRow(*rows[0]) if rows else None


async def checkpoint_state(conn: aiosqlite.Connection, user_id: str, checkpoint_id: int) -> str | None:
    rows = await fetch_all(conn, "SELECT state FROM checkpoints WHERE user_id = ? AND id = ?", [user_id, checkpoint_id])
    return rows[0][0] if rows else None


async def prune_thread(conn: aiosqlite.Connection, user_id: str, thread_id: str, keep: int) -> int:
    """Delete all but the `keep` newest checkpoints of a thread; returns how many went."""
    cursor = await conn.execute(
        "DELETE FROM checkpoints WHERE user_id = ? AND thread_id = ? AND id NOT IN "
        "(SELECT id FROM checkpoints WHERE user_id = ? AND thread_id = ? ORDER BY id DESC LIMIT ?)",
        (user_id, thread_id, user_id, thread_id, keep),
    )
    return max(cursor.rowcount, 0)


async def list_threads(conn: aiosqlite.Connection, user_id: str, limit: int) -> list[ThreadRow]:
    """The user's threads, most recently saved first."""
    rows = await fetch_all(
        conn,
        "SELECT t.thread_id, t.n, t.latest_id, c.step, t.first_at, t.last_at FROM (SELECT thread_id, "
        "count(*) AS n, max(id) AS latest_id, min(created_at) AS first_at, max(created_at) AS last_at "
        "FROM checkpoints WHERE user_id = ? GROUP BY thread_id) t JOIN checkpoints c ON c.id = t.latest_id "
        "ORDER BY t.latest_id DESC LIMIT ?",
        [user_id, limit],
    )
    return [ThreadRow(*row) for row in rows]


async def delete_threads_saved_before(conn: aiosqlite.Connection, cutoff: float) -> tuple[int, int]:
    """Physically delete every thread (of any user) whose last checkpoint is older than
    `cutoff`. Returns (threads, checkpoints) deleted."""
    stale = await fetch_all(
        conn,
        "SELECT user_id, thread_id FROM checkpoints GROUP BY user_id, thread_id HAVING max(created_at) <= ?",
        [cutoff],
    )
    deleted = 0
    for user_id, thread_id in stale:
        cursor = await conn.execute("DELETE FROM checkpoints WHERE user_id = ? AND thread_id = ?", (user_id, thread_id))
        deleted += max(cursor.rowcount, 0)
    return len(stale), deleted


async def count_checkpoints(conn: aiosqlite.Connection, user_id: str, thread_id: str) -> int:
    rows = await fetch_all(
        conn, "SELECT count(*) FROM checkpoints WHERE user_id = ? AND thread_id = ?", [user_id, thread_id]
    )
    return int(rows[0][0])
