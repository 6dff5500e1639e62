"""SQL for re-checking stored records against today's privacy rules: a user's records per
layer, streamed, and the deletes that remove the ones refused."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiosqlite

# layer -> (table, key column, columns the policy reads)
LAYERS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "facts": ("facts", "id", ("content", "category", "tags")),
    "sessions": ("sessions", "id", ("agent_name",)),
    "messages": ("messages", "id", ("content", "name")),
    "summaries": ("summaries", "id", ("content",)),
    "checkpoints": ("checkpoints", "id", ("thread_id", "label", "state")),
    "tool_calls": ("tool_calls", "id", ("tool_name", "input", "output")),
}


async def records(conn: aiosqlite.Connection, layer: str, user_id: str) -> AsyncIterator[tuple[Any, dict[str, Any]]]:
    """(key, columns) of every record of the user in `layer`; JSON columns decoded."""
    table, key, fields = LAYERS[layer]
    sql = f"SELECT {key}, {', '.join(fields)} FROM {table} WHERE user_id = ? ORDER BY {key}"
    async with conn.execute(sql, [user_id]) as cursor:
        async for row in cursor:
            values = dict(zip(fields, row[1:], strict=True))
            if layer == "facts":
                values["tags"] = json.loads(values["tags"])
            elif layer == "checkpoints":
                values["state"] = json.loads(values["state"])
            yield row[0], values


async def delete(conn: aiosqlite.Connection, layer: str, user_id: str, keys: Sequence[Any]) -> None:
    """Physically delete records of messages, summaries, checkpoints or tool calls (secure_delete is on)."""
    table, key, _ = LAYERS[layer]
    marks = ",".join("?" * len(keys))
    await conn.execute(f"DELETE FROM {table} WHERE user_id = ? AND {key} IN ({marks})", [user_id, *keys])


async def clear_agent_names(conn: aiosqlite.Connection, user_id: str, session_ids: Sequence[str]) -> None:
    """A session keeps its messages; only the name the policy refuses goes (overwritten: secure_delete)."""
    marks = ",".join("?" * len(session_ids))
    await conn.execute(
        f"UPDATE sessions SET agent_name = NULL WHERE user_id = ? AND id IN ({marks})", [user_id, *session_ids]
    )
