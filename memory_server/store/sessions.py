"""SQL for conversation sessions, their messages and summaries. Every query filters by user."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite

from memory_server.store import ids
from memory_server.store.sql import fetch_all

SESSION_COLUMNS = (
    "id, agent_name, created_at, last_active_at, ttl_hours, expires_at, message_count, tokens, cost_usd, "
    "compacted_through_seq, compacted_tokens"
)
MESSAGE_COLUMNS = "id, seq, role, name, content, tokens, cost_usd, created_at, said_at"


@dataclass(frozen=True)
class SessionRow:
    id: str
    agent_name: str | None
    created_at: float
    last_active_at: float
    ttl_hours: float
    expires_at: float
    message_count: int
    tokens: int
    cost_usd: float
    compacted_through_seq: int
    compacted_tokens: int

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> SessionRow:
        return cls(*row)


@dataclass(frozen=True)
class MessageRow:
    id: int
    seq: int
    role: str
    name: str | None
    content: str
    tokens: int
    cost_usd: float
    created_at: float
    said_at: float | None = None  # when it was said, if the host said so

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> MessageRow:
        return cls(*row)


@dataclass(frozen=True)
class NewMessageRow:
    role: str
    name: str | None
    content: str
    tokens: int
    cost_usd: float
    said_at: float | None = None


@dataclass(frozen=True)
class SummaryRow:
    id: int
    content: str
    covers_through_seq: int
    source: str
    tokens: int
    created_at: float


async def get_live_session(conn: aiosqlite.Connection, user_id: str, session_id: str, now: float) -> SessionRow | None:
    """The session if it belongs to this user and has not expired; None otherwise (one answer for all three)."""
    rows = await fetch_all(
        conn,
        f"SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ? AND user_id = ? AND expires_at > ?",
        [session_id, user_id, now],
    )
    return SessionRow.from_row(rows[0]) if rows else None


async def live_session_ttl(conn: aiosqlite.Connection, user_id: str, session_id: str, now: float) -> float | None:
    """The session's ttl_hours if it exists for this user and has not expired, else None."""
    rows = await fetch_all(
        conn,
        "SELECT ttl_hours FROM sessions WHERE id = ? AND user_id = ? AND expires_at > ?",
        [session_id, user_id, now],
    )
    return float(rows[0][0]) if rows else None


async def touch_session(conn: aiosqlite.Connection, session_id: str, ttl_hours: float, now: float) -> None:
    """Count activity: the inactivity clock of the session starts again."""
    await conn.execute(
        "UPDATE sessions SET last_active_at = ?, expires_at = ? WHERE id = ?",
        (now, now + ttl_hours * 3_600, session_id),
    )


async def insert_session(
    conn: aiosqlite.Connection, *, session_id: str, user_id: str, agent_name: str | None, now: float, ttl_hours: float
) -> None:
    await conn.execute(
        "INSERT INTO sessions (id, user_id, agent_name, created_at, last_active_at, ttl_hours, expires_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (session_id, user_id, agent_name, now, now, ttl_hours, now + ttl_hours * 3_600),
    )


async def insert_messages(
    conn: aiosqlite.Connection,
    session: SessionRow,
    user_id: str,
    messages: Sequence[NewMessageRow],
    *,
    now: float,
    ttl_hours: float,
    agent_name: str | None,
) -> list[int]:
    """Append after the session's last seq and move its totals and expiry: one write transaction."""
    given = await ids.allocate(conn, "messages", user_id, len(messages)) if messages else []
    seq = session.message_count
    for message, message_id in zip(messages, given, strict=True):
        seq += 1
        await conn.execute(
            "INSERT INTO messages (id, session_id, user_id, seq, role, name, content, tokens, cost_usd, created_at, "
            "said_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                message_id,
                session.id,
                user_id,
                seq,
                message.role,
                message.name,
                message.content,
                message.tokens,
                message.cost_usd,
                now,
                message.said_at,
            ),
        )
    await conn.execute(
        "UPDATE sessions SET message_count = ?, tokens = tokens + ?, cost_usd = cost_usd + ?, last_active_at = ?, "
        "ttl_hours = ?, expires_at = ?, agent_name = coalesce(?, agent_name) WHERE id = ?",
        (
            seq,
            sum(m.tokens for m in messages),
            sum(m.cost_usd for m in messages),
            now,
            ttl_hours,
            now + ttl_hours * 3_600,
            agent_name,
            session.id,
        ),
    )
    return given


async def system_messages(conn: aiosqlite.Connection, session_id: str) -> list[MessageRow]:
    rows = await fetch_all(
        conn,
        f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE session_id = ? AND role = 'system' ORDER BY seq",
        [session_id],
    )
    return [MessageRow.from_row(row) for row in rows]


async def recent_messages(
    conn: aiosqlite.Connection, session_id: str, *, after_seq: int, limit: int
) -> list[MessageRow]:
    """The newest non-system messages after `after_seq`, newest first."""
    rows = await fetch_all(
        conn,
        f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE session_id = ? AND seq > ? AND role != 'system' "
        "ORDER BY seq DESC LIMIT ?",
        [session_id, after_seq, limit],
    )
    return [MessageRow.from_row(row) for row in rows]


async def messages_between(
    conn: aiosqlite.Connection, session_id: str, *, after_seq: int, through_seq: int
) -> list[MessageRow]:
    rows = await fetch_all(
        conn,
        f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE session_id = ? AND seq > ? AND seq <= ? ORDER BY seq",
        [session_id, after_seq, through_seq],
    )
    return [MessageRow.from_row(row) for row in rows]


async def latest_summary(conn: aiosqlite.Connection, session_id: str) -> SummaryRow | None:
    rows = await fetch_all(
        conn,
        "SELECT id, content, covers_through_seq, source, tokens, created_at FROM summaries "
        "WHERE session_id = ? ORDER BY id DESC LIMIT 1",
        [session_id],
    )
    return SummaryRow(*rows[0]) if rows else None


async def insert_summary(
    conn: aiosqlite.Connection,
    session: SessionRow,
    user_id: str,
    *,
    content: str,
    covers_through_seq: int,
    source: str,
    tokens: int,
    compacted_tokens: int,
    now: float,
) -> int:
    """Store the summary, mark the messages it covers as compacted, and count it as activity."""
    [summary_id] = await ids.allocate(conn, "summaries", user_id)
    await conn.execute(
        "INSERT INTO summaries (id, session_id, user_id, content, covers_through_seq, source, tokens, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (summary_id, session.id, user_id, content, covers_through_seq, source, tokens, now),
    )
    await conn.execute(
        "UPDATE messages SET compacted = 1 WHERE session_id = ? AND seq > ? AND seq <= ?",
        (session.id, session.compacted_through_seq, covers_through_seq),
    )
    await conn.execute(
        "UPDATE sessions SET compacted_through_seq = ?, compacted_tokens = ?, last_active_at = ?, expires_at = ? "
        "WHERE id = ?",
        (covers_through_seq, compacted_tokens, now, now + session.ttl_hours * 3_600, session.id),
    )
    return summary_id


async def list_sessions(conn: aiosqlite.Connection, user_id: str, now: float, *, limit: int) -> list[SessionRow]:
    rows = await fetch_all(
        conn,
        f"SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = ? AND expires_at > ? "
        "ORDER BY last_active_at DESC, id LIMIT ?",
        [user_id, now, limit],
    )
    return [SessionRow.from_row(row) for row in rows]


async def expired_ids(conn: aiosqlite.Connection, now: float) -> list[str]:
    return [row[0] for row in await fetch_all(conn, "SELECT id FROM sessions WHERE expires_at <= ?", [now])]


async def erase(conn: aiosqlite.Connection, ids: Sequence[str]) -> None:
    """Physically delete sessions with their messages and summaries (secure_delete is on).

    Rows of other tables that reference a session (tool calls) go with it by ON DELETE CASCADE.
    """
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        marks = ",".join("?" * len(chunk))
        await conn.execute(f"DELETE FROM messages WHERE session_id IN ({marks})", chunk)
        await conn.execute(f"DELETE FROM summaries WHERE session_id IN ({marks})", chunk)
        await conn.execute(f"DELETE FROM sessions WHERE id IN ({marks})", chunk)
