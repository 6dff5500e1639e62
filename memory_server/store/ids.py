"""Row ids that say nothing about other users.

A global counter tells user b that user a stored two facts before b's first one. Instead,
each user's ids in a table climb from a starting point of their own by steps of their own:
both are drawn from a keyed hash of (table, user, how many ids this user has had there),
under a random key kept in the encrypted database. So a user's ids depend only on that
user's own history (another user's rows change them only in the rare case of a clash,
which is skipped invisibly), yet they still grow with every insert, so "the latest" is still
"the highest id" within a user's thread or session. Ids stay below 2^53, which JavaScript
hosts read exactly, and never repeat within a user: the high mark survives deletions.

Ids given out before this scheme (schema step 005) keep working; new ones start above the
highest id given out then (the table's "floor"), so an old deleted id is never reissued.
"""

from __future__ import annotations

import hashlib

import aiosqlite

from memory_server.errors import StoreError
from memory_server.store.sql import fetch_all

SPACE = 2**53
"""Every id is below this: JavaScript numbers hold integers exactly up to here."""
START_SPREAD = 2**20
"""A user's first id is the floor plus up to this much, so users rarely share a range."""
MAX_STEP = 2**10
"""Each next id is 1 to this much above the one before."""
FLOOR = ""
"""The id_marks row (user_id '') holding a table's floor; no user id is empty."""
TABLES = ("facts", "messages", "summaries", "checkpoints", "tool_calls")


def _draw(key: bytes, table: str, user_id: str, n: int) -> int:
    digest = hashlib.blake2b(f"{table}\0{user_id}\0{n}".encode(), key=key, digest_size=8).digest()
    return int.from_bytes(digest, "big")


async def allocate(conn: aiosqlite.Connection, table: str, user_id: str, count: int = 1) -> list[int]:
    """The next `count` ids of `user_id` in `table`, increasing. Call inside the write
    transaction that inserts them (the high mark is read and moved there)."""
    assert table in TABLES
    stored_key = await fetch_all(conn, "SELECT value FROM meta WHERE key = 'ids.key'")
    if not stored_key:
        raise StoreError("The database has no id key (schema step 005 is missing). Run `memory-server doctor`.")
    key = bytes.fromhex(stored_key[0][0])
    marks = {
        row[0]: (int(row[1]), int(row[2]))
        for row in await fetch_all(
            conn,
            "SELECT user_id, issued, high FROM id_marks WHERE tbl = ? AND user_id IN (?, ?)",
            [table, FLOOR, user_id],
        )
    }
    floor = marks.get(FLOOR, (0, 0))[1]
    issued, high = marks.get(user_id, (0, floor + _draw(key, table, user_id, 0) % START_SPREAD))
    chosen: list[int] = []
    while len(chosen) < count:
        candidates = []
        for _ in range(count - len(chosen)):
            issued += 1
            high += 1 + _draw(key, table, user_id, issued) % MAX_STEP
            candidates.append(high)
        if high >= SPACE:
            raise StoreError(f"No ids are left below 2^53 in {table} for user {user_id}.")
        marks_sql = ",".join("?" * len(candidates))
        taken = {
            row[0] for row in await fetch_all(conn, f"SELECT id FROM {table} WHERE id IN ({marks_sql})", candidates)
        }
        chosen.extend(candidate for candidate in candidates if candidate not in taken)
    await conn.execute(
        "INSERT INTO id_marks (tbl, user_id, issued, high) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (tbl, user_id) DO UPDATE SET issued = excluded.issued, high = excluded.high",
        (table, user_id, issued, high),
    )
    return chosen


async def keep(conn: aiosqlite.Connection, table: str, user_id: str, row_id: int) -> None:
    """An id inserted as given (an import keeping its checkpoint ids): later ids go above it."""
    await conn.execute(
        "INSERT INTO id_marks (tbl, user_id, issued, high) VALUES (?, ?, 0, ?) "
        "ON CONFLICT (tbl, user_id) DO UPDATE SET high = max(high, excluded.high)",
        (table, user_id, row_id),
    )
