"""SQL for the audit log: an append-only, hash-chained table of mutations and of served facts.

Rows are only ever inserted (triggers refuse UPDATE and DELETE). Each row's hash covers its
own fields and the previous row's hash, so an edited, deleted or reordered row breaks the
chain. The previous hash is read inside the writer's `BEGIN IMMEDIATE` transaction, so rows
written by several processes still form one line.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite

from memory_server.store.sql import fetch_all

GENESIS = "0" * 64
TABLE = "audit_log"
TRIGGERS = ("audit_log_no_update", "audit_log_no_delete")
COLUMNS = "id, at, user_id, session_id, action, ids, detail, prev_hash, hash"


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: float
    user_id: str
    session_id: str | None
    action: str
    ids: str  # canonical JSON array of the ids the action touched
    detail: str  # canonical JSON object: counts and hashes, never content
    prev_hash: str
    hash: str

    def expected_hash(self) -> str:
        return chain_hash(
            id=self.id,
            at=self.at,
            user_id=self.user_id,
            session_id=self.session_id,
            action=self.action,
            ids=self.ids,
            detail=self.detail,
            prev_hash=self.prev_hash,
        )


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def chain_hash(**fields: Any) -> str:
    """sha256 over the canonical JSON of a row's fields, its id and the previous row's hash."""
    return hashlib.sha256(canonical(fields).encode("utf-8")).hexdigest()


async def append(
    conn: aiosqlite.Connection,
    *,
    at: float,
    user_id: str,
    session_id: str | None,
    action: str,
    ids: Sequence[int | str],
    detail: dict[str, Any],
) -> int:
    """Insert one chained row. Call inside a write transaction (the chain head is read there)."""
    last = await fetch_all(conn, f"SELECT id, hash FROM {TABLE} ORDER BY id DESC LIMIT 1")
    issued = await fetch_all(conn, "SELECT seq FROM sqlite_sequence WHERE name = ?", [TABLE])
    # The next id is fixed here rather than by the INSERT, because the hash covers it.
    next_id = max(last[0][0] if last else 0, issued[0][0] if issued else 0) + 1
    prev_hash = last[0][1] if last else GENESIS
    ids_json, detail_json = canonical(list(ids)), canonical(detail)
    digest = chain_hash(
        id=next_id,
        at=at,
        user_id=user_id,
        session_id=session_id,
        action=action,
        ids=ids_json,
        detail=detail_json,
        prev_hash=prev_hash,
    )
    await conn.execute(
        f"INSERT INTO {TABLE} ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (next_id, at, user_id, session_id, action, ids_json, detail_json, prev_hash, digest),
    )
    return next_id


async def walk(conn: aiosqlite.Connection, *, batch: int = 1_000) -> AsyncIterator[AuditRow]:
    """Every row in id order, read in batches (call inside one read transaction)."""
    after = 0
    while True:
        found = await fetch_all(conn, f"SELECT {COLUMNS} FROM {TABLE} WHERE id > ? ORDER BY id LIMIT ?", [after, batch])
        for row in found:
            yield AuditRow(*row)
        if len(found) < batch:
            return
        after = found[-1][0]


async def last(conn: aiosqlite.Connection) -> AuditRow | None:
    found = await fetch_all(conn, f"SELECT {COLUMNS} FROM {TABLE} ORDER BY id DESC LIMIT 1")
    return AuditRow(*found[0]) if found else None


async def highest_issued_id(conn: aiosqlite.Connection) -> int:
    """The largest id ever given out (AUTOINCREMENT remembers it even when rows are deleted)."""
    found = await fetch_all(conn, "SELECT seq FROM sqlite_sequence WHERE name = ?", [TABLE])
    return int(found[0][0]) if found else 0


async def present_triggers(conn: aiosqlite.Connection) -> set[str]:
    marks = ",".join("?" * len(TRIGGERS))
    found = await fetch_all(
        conn, f"SELECT name FROM sqlite_master WHERE type = 'trigger' AND name IN ({marks})", TRIGGERS
    )
    return {row[0] for row in found}


async def latest(
    conn: aiosqlite.Connection, user_id: str | None, *, limit: int, session_id: str | None = None
) -> list[AuditRow]:
    """The newest rows, newest first: of one user (or of all users when `user_id` is None)."""
    clauses, params = [], []
    if user_id is not None:
        clauses.append("user_id = ?")
        params.append(user_id)
    if session_id is not None:
        clauses.append("session_id = ?")
        params.append(session_id)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    found = await fetch_all(conn, f"SELECT {COLUMNS} FROM {TABLE} {where} ORDER BY id DESC LIMIT ?", [*params, limit])
    return [AuditRow(*row) for row in found]


# -- owners of rows about to be deleted (sweeps run across users; every audit row has one) --


async def fact_owners(conn: aiosqlite.Connection, ids: Iterable[int]) -> dict[str, list[int]]:
    return await _owners(conn, "facts", list(ids))


async def session_owners(conn: aiosqlite.Connection, ids: Iterable[str]) -> dict[str, list[str]]:
    return await _owners(conn, "sessions", list(ids))


async def _owners(conn: aiosqlite.Connection, table: str, ids: list[Any]) -> dict[str, list[Any]]:
    owners: dict[str, list[Any]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for user_id, row_id in await fetch_all(
            conn, f"SELECT user_id, id FROM {table} WHERE id IN ({marks}) ORDER BY id", chunk
        ):
            owners.setdefault(user_id, []).append(row_id)
    return owners


async def stale_threads(conn: aiosqlite.Connection, cutoff: float) -> dict[str, list[tuple[str, int]]]:
    """Per user, the threads whose last checkpoint is older than `cutoff`, with their sizes."""
    owners: dict[str, list[tuple[str, int]]] = {}
    for user_id, thread_id, count in await fetch_all(
        conn,
        "SELECT user_id, thread_id, count(*) FROM checkpoints GROUP BY user_id, thread_id "
        "HAVING max(created_at) <= ? ORDER BY user_id, thread_id",
        [cutoff],
    ):
        owners.setdefault(user_id, []).append((thread_id, int(count)))
    return owners
