"""The log of vector changes that every in-memory index reads (see `store/vectors.py`).

Writers record here; the numpy index that reads it lives in `store/vectors.py`, which a
process imports only when it keeps vectors in memory.
"""

from __future__ import annotations

from collections.abc import Sequence

import aiosqlite

from memory_server.store import meta as meta_keys
from memory_server.store.sql import fetch_all

KEEP_LOG_ROWS = 100_000
"""`prune` keeps this many of the newest log rows; an index older than that reloads."""


async def last_seq(conn: aiosqlite.Connection) -> int:
    """The newest log row ever written (pruning does not lower it)."""
    rows = await fetch_all(conn, "SELECT seq FROM sqlite_sequence WHERE name = 'vector_log'")
    return int(rows[0][0]) if rows else 0


async def record_rewritten(conn: aiosqlite.Connection, facts: Sequence[tuple[int, str]]) -> None:
    """Record vectors rewritten in place (fact_id, user_id), so every index reads them again."""
    await conn.executemany(
        "INSERT INTO vector_log (user_id, fact_id, added) VALUES (?, ?, 1)",
        [(user_id, fact_id) for fact_id, user_id in facts],
    )


async def restart(conn: aiosqlite.Connection) -> None:
    """Every index reloads from scratch (the vector table was recreated)."""
    await _raise_floor(conn, await last_seq(conn))
    await conn.execute("DELETE FROM vector_log")


async def prune(conn: aiosqlite.Connection, keep: int = KEEP_LOG_ROWS) -> None:
    """Let the log hold only its newest `keep` rows; an index that had not seen the rest reloads."""
    cut = await last_seq(conn) - keep
    if cut > 0 and (await fetch_all(conn, "SELECT 1 FROM vector_log WHERE seq <= ? LIMIT 1", [cut])):
        await _raise_floor(conn, cut)
        await conn.execute("DELETE FROM vector_log WHERE seq <= ?", [cut])


async def _raise_floor(conn: aiosqlite.Connection, seq: int) -> None:
    await conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (meta_keys.VECTOR_LOG_FLOOR, str(seq)),
    )
