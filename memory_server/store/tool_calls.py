"""SQL for the tool-call audit of sessions. Every query filters by user."""

from __future__ import annotations

from dataclasses import dataclass

import aiosqlite

from memory_server.store import ids
from memory_server.store.sql import fetch_all


@dataclass(frozen=True)
class StoredText:
    """A text kept whole, or only its head when `length` is longer."""

    text: str | None
    length: int | None
    hash: str | None


@dataclass(frozen=True)
class ToolCallRow:
    id: int
    session_id: str
    tool_name: str
    status: str
    input: StoredText
    output: StoredText
    duration_ms: float | None
    tokens: int | None
    cost_usd: float | None
    created_at: float


@dataclass(frozen=True)
class TotalsRow:
    tool_calls: int
    errors: int
    tokens: int
    cost_usd: float
    duration_ms: float
    first_at: float | None
    last_at: float | None


async def insert_tool_call(
    conn: aiosqlite.Connection,
    *,
    user_id: str,
    session_id: str,
    tool_name: str,
    status: str,
    input: StoredText,
    output: StoredText,
    duration_ms: float | None,
    tokens: int | None,
    cost_usd: float | None,
    now: float,
) -> int:
    [call_id] = await ids.allocate(conn, "tool_calls", user_id)
    await conn.execute(
        "INSERT INTO tool_calls (id, session_id, user_id, tool_name, status, input, input_length, input_hash, "
        "output, output_length, output_hash, duration_ms, tokens, cost_usd, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            call_id,
            session_id,
            user_id,
            tool_name,
            status,
            input.text,
            input.length,
            input.hash,
            output.text,
            output.length,
            output.hash,
            duration_ms,
            tokens,
            cost_usd,
            now,
        ),
    )
    return call_id


async def tool_calls(conn: aiosqlite.Connection, user_id: str, session_id: str, limit: int) -> list[ToolCallRow]:
    """The session's latest calls, oldest first."""
    rows = await fetch_all(
        conn,
        "SELECT * FROM (SELECT id, session_id, tool_name, status, input, input_length, input_hash, output, "
        "output_length, output_hash, duration_ms, tokens, cost_usd, created_at FROM tool_calls "
        "WHERE user_id = ? AND session_id = ? ORDER BY id DESC LIMIT ?) ORDER BY id",
        [user_id, session_id, limit],
    )
    return [
        ToolCallRow(
            id=row[0],
            session_id=row[1],
            tool_name=row[2],
            status=row[3],
            input=StoredText(*row[4:7]),
            output=StoredText(*row[7:10]),
            duration_ms=row[10],
            tokens=row[11],
            cost_usd=row[12],
            created_at=row[13],
        )
        for row in rows
    ]


async def totals(conn: aiosqlite.Connection, user_id: str, session_id: str) -> TotalsRow:
    [row] = await fetch_all(
        conn,
        "SELECT count(*), coalesce(sum(status != 'ok'), 0), coalesce(sum(tokens), 0), coalesce(sum(cost_usd), 0.0), "
        "coalesce(sum(duration_ms), 0.0), min(created_at - coalesce(duration_ms, 0) / 1000.0), max(created_at) "
        "FROM tool_calls WHERE user_id = ? AND session_id = ?",
        [user_id, session_id],
    )
    return TotalsRow(
        tool_calls=int(row[0]),
        errors=int(row[1]),
        tokens=int(row[2]),
        cost_usd=float(row[3]),
        duration_ms=float(row[4]),
        first_at=row[5],
        last_at=row[6],
    )
