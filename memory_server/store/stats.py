"""SQL for `memory-server stats`: counts and time ranges of one user's rows in every layer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aiosqlite

from memory_server.store.sql import fetch_all, fetch_one

Range = tuple[float | None, float | None]


async def _one(conn: aiosqlite.Connection, sql: str, params: Sequence[Any]) -> tuple[Any, ...]:
    row = await fetch_one(conn, sql, params)
    assert row is not None  # an aggregate always answers one row
    return row


async def facts(conn: aiosqlite.Connection, user_id: str, now: float) -> tuple[dict[str, int], Range]:
    row = await _one(
        conn,
        "SELECT coalesce(sum(superseded_by IS NULL AND (expires_at IS NULL OR expires_at > ?)), 0), "
        "coalesce(sum(superseded_by IS NOT NULL AND (expires_at IS NULL OR expires_at > ?)), 0), "
        "coalesce(sum(expires_at IS NOT NULL AND expires_at <= ?), 0), min(created_at), max(created_at) "
        "FROM facts WHERE user_id = ?",
        [now, now, now, user_id],
    )
    counts = {"live": int(row[0]), "superseded": int(row[1]), "expired_pending_sweep": int(row[2])}
    return counts, (row[3], row[4])


async def categories(conn: aiosqlite.Connection, user_id: str, now: float) -> dict[str, int]:
    rows = await fetch_all(
        conn,
        "SELECT coalesce(category, ''), count(*) FROM facts WHERE user_id = ? AND superseded_by IS NULL "
        "AND (expires_at IS NULL OR expires_at > ?) GROUP BY 1 ORDER BY 2 DESC, 1",
        [user_id, now],
    )
    return {str(name): int(n) for name, n in rows}


async def sessions(conn: aiosqlite.Connection, user_id: str, now: float) -> tuple[dict[str, int], Range]:
    row = await _one(
        conn,
        "SELECT coalesce(sum(expires_at > ?), 0), coalesce(sum(expires_at <= ?), 0), min(created_at), "
        "max(last_active_at) FROM sessions WHERE user_id = ?",
        [now, now, user_id],
    )
    messages = await _one(
        conn, "SELECT count(*), coalesce(sum(compacted), 0) FROM messages WHERE user_id = ?", [user_id]
    )
    summaries = await _one(conn, "SELECT count(*) FROM summaries WHERE user_id = ?", [user_id])
    counts = {
        "live": int(row[0]),
        "expired_pending_sweep": int(row[1]),
        "messages": int(messages[0]),
        "compacted_messages": int(messages[1]),
        "summaries": int(summaries[0]),
    }
    return counts, (row[2], row[3])


async def checkpoints(conn: aiosqlite.Connection, user_id: str, stale_before: float) -> tuple[dict[str, int], Range]:
    row = await _one(
        conn,
        "SELECT count(DISTINCT thread_id), count(*), min(created_at), max(created_at) FROM checkpoints "
        "WHERE user_id = ?",
        [user_id],
    )
    stale = await _one(
        conn,
        "SELECT count(*) FROM (SELECT thread_id FROM checkpoints WHERE user_id = ? GROUP BY thread_id "
        "HAVING max(created_at) <= ?)",
        [user_id, stale_before],
    )
    counts = {"threads": int(row[0]), "checkpoints": int(row[1]), "threads_expired_pending_sweep": int(stale[0])}
    return counts, (row[2], row[3])


async def tool_calls(conn: aiosqlite.Connection, user_id: str) -> tuple[dict[str, int], Range]:
    row = await _one(
        conn,
        "SELECT count(*), coalesce(sum(status != 'ok'), 0), min(created_at), max(created_at) FROM tool_calls "
        "WHERE user_id = ?",
        [user_id],
    )
    return {"calls": int(row[0]), "not_ok": int(row[1])}, (row[2], row[3])


async def audit(conn: aiosqlite.Connection, user_id: str) -> tuple[dict[str, int], Range] | None:
    """Rows of the audit log, when this store has one (schema step 004)."""
    if not await fetch_all(conn, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_log'", []):
        return None
    row = await _one(conn, "SELECT count(*), min(at), max(at) FROM audit_log WHERE user_id = ?", [user_id])
    return {"rows": int(row[0])}, (row[1], row[2])
