"""SQL for facts, their vectors and their full-text rows. Every query filters by user."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiosqlite

from memory_server.store import ids
from memory_server.store.connection import MAX_ROWID
from memory_server.store.sql import fetch_all

if TYPE_CHECKING:
    from memory_server.store.vectors import VectorIndex

Vector = Sequence[float]

FACT_COLUMNS = (
    "id, content, category, tags, importance, created_at, updated_at, last_accessed_at, "
    "access_count, expires_at, supersedes, superseded_by, source_session"
)


@dataclass(frozen=True)
class FactRow:
    id: int
    content: str
    category: str | None
    tags: list[str]
    importance: float
    created_at: float
    updated_at: float
    last_accessed_at: float | None
    access_count: int
    expires_at: float | None
    supersedes: int | None
    superseded_by: int | None
    source_session: str | None

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> FactRow:
        values = list(row)
        values[3] = json.loads(values[3])
        return cls(*values)


@dataclass(frozen=True)
class FactFilter:
    """Which facts a query may see. Expired facts are never visible."""

    now: float
    include_superseded: bool = False
    category: str | None = None
    tags: tuple[str, ...] = ()
    min_importance: float | None = None

    def sql(self, alias: str = "f") -> tuple[str, list[Any]]:
        clauses = [f"({alias}.expires_at IS NULL OR {alias}.expires_at > ?)"]
        params: list[Any] = [self.now]
        if not self.include_superseded:
            clauses.append(f"{alias}.superseded_by IS NULL")
        if self.category is not None:
            clauses.append(f"{alias}.category = ?")
            params.append(self.category)
        for tag in self.tags:
            clauses.append(f"EXISTS (SELECT 1 FROM json_each({alias}.tags) WHERE value = ?)")
            params.append(tag)
        if self.min_importance is not None:
            clauses.append(f"{alias}.importance >= ?")
            params.append(self.min_importance)
        return " AND ".join(clauses), params


def pack_vector(vector: Vector) -> bytes:
    return struct.pack(f"<{len(vector)}f", *vector)


async def get_facts(
    conn: aiosqlite.Connection, user_id: str, ids: Iterable[int], where: FactFilter | None = None
) -> dict[int, FactRow]:
    """The user's facts among `ids` (only those `where` lets through, when given)."""
    ids = [i for i in ids if 0 < i <= MAX_ROWID]  # an id SQLite cannot hold names no fact
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    clause, params = where.sql() if where is not None else ("1", [])
    rows = await fetch_all(
        conn,
        f"SELECT {FACT_COLUMNS} FROM facts f WHERE f.user_id = ? AND f.id IN ({marks}) AND {clause}",
        [user_id, *ids, *params],
    )
    return {row[0]: FactRow.from_row(row) for row in rows}


async def list_facts(
    conn: aiosqlite.Connection, user_id: str, where: FactFilter, *, limit: int, offset: int = 0
) -> list[FactRow]:
    clause, params = where.sql()
    rows = await fetch_all(
        conn,
        f"SELECT {FACT_COLUMNS} FROM facts f WHERE f.user_id = ? AND {clause} "
        "ORDER BY f.importance DESC, f.updated_at DESC, f.id DESC LIMIT ? OFFSET ?",
        [user_id, *params, limit, offset],
    )
    return [FactRow.from_row(row) for row in rows]


async def count_facts(conn: aiosqlite.Connection, user_id: str, where: FactFilter) -> int:
    clause, params = where.sql()
    rows = await fetch_all(conn, f"SELECT count(*) FROM facts f WHERE f.user_id = ? AND {clause}", [user_id, *params])
    return int(rows[0][0])


async def find_by_key(
    conn: aiosqlite.Connection, user_id: str, key: str, where: FactFilter, exclude: int | None
) -> int | None:
    clause, params = where.sql()
    rows = await fetch_all(
        conn,
        f"SELECT f.id FROM facts f WHERE f.user_id = ? AND f.content_key = ? AND f.id IS NOT ? AND {clause} "
        "ORDER BY f.id LIMIT 1",
        [user_id, key, exclude, *params],
    )
    return rows[0][0] if rows else None


async def nearest(
    conn: aiosqlite.Connection, user_id: str, vector: Vector, k: int, index: VectorIndex | None = None
) -> list[tuple[int, float]]:
    """Nearest facts by cosine distance, as (fact_id, similarity), best first: from the
    process's in-memory `index` when it keeps one, else by sqlite-vec's scan of the file."""
    if index is not None:
        return await index.nearest(conn, user_id, vector, k)
    rows = await fetch_all(
        conn,
        "SELECT fact_id, distance FROM fact_vectors "
        "WHERE embedding MATCH ? AND k = ? AND user_id = ? ORDER BY distance",
        [pack_vector(vector), min(k, 4_096), user_id],
    )
    return [(int(fact_id), _similarity(distance)) for fact_id, distance in rows]


def _similarity(distance: float | None) -> float:
    """Cosine similarity from a distance; a zero vector has no direction (NULL): similarity 0."""
    return 0.0 if distance is None or distance != distance else 1.0 - float(distance)


async def term_documents(conn: aiosqlite.Connection, user_id: str, terms: Sequence[str]) -> tuple[int, list[set[int]]]:
    """The user's facts and, per term, the ids of those that contain it (other users' facts
    must not move a user's scores)."""
    documents = (await fetch_all(conn, "SELECT count(*) FROM facts WHERE user_id = ?", [user_id]))[0][0]
    containing = []
    for term in terms:
        quoted = '"' + term.replace('"', '""') + '"'
        found = await fetch_all(
            conn,
            "SELECT fact_fts.rowid FROM fact_fts JOIN facts f ON f.id = fact_fts.rowid "
            "WHERE fact_fts MATCH ? AND f.user_id = ?",
            [quoted, user_id],
        )
        containing.append({row[0] for row in found})
    return int(documents), containing


async def keyword_matches(
    conn: aiosqlite.Connection, user_id: str, match: str, where: FactFilter, limit: int
) -> list[tuple[int, float]]:
    """Facts matching an FTS5 expression, as (fact_id, bm25), best first (higher is better)."""
    clause, params = where.sql()
    return [
        (int(fact_id), -float(score))  # FTS5 reports bm25 negated, so that ORDER BY ascends
        for fact_id, score in await fetch_all(
            conn,
            "SELECT f.id, bm25(fact_fts) AS score FROM fact_fts JOIN facts f ON f.id = fact_fts.rowid "
            f"WHERE fact_fts MATCH ? AND f.user_id = ? AND {clause} ORDER BY score LIMIT ?",
            [match, user_id, *params, limit],
        )
    ]


async def insert_fact(
    conn: aiosqlite.Connection,
    *,
    user_id: str,
    content: str,
    key: str,
    category: str | None,
    tags: list[str],
    importance: float,
    now: float,
    expires_at: float | None,
    supersedes: int | None,
    source_session: str | None,
    vector: Vector,
) -> int:
    """The row, its full-text entry and its vector: call inside one write transaction."""
    [fact_id] = await ids.allocate(conn, "facts", user_id)
    await conn.execute(
        "INSERT INTO facts (id, user_id, content, content_key, category, tags, importance, created_at, updated_at, "
        "expires_at, supersedes, source_session) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            fact_id,
            user_id,
            content,
            key,
            category,
            json.dumps(tags),
            importance,
            now,
            now,
            expires_at,
            supersedes,
            source_session,
        ),
    )
    await conn.execute(
        "INSERT INTO fact_fts (rowid, content, tags, category) VALUES (?, ?, ?, ?)",
        (fact_id, content, " ".join(tags), category or ""),
    )
    await conn.execute(
        "INSERT INTO fact_vectors (fact_id, user_id, embedding) VALUES (?, ?, ?)",
        (fact_id, user_id, pack_vector(vector)),
    )
    return fact_id


async def merge_into(
    conn: aiosqlite.Connection,
    existing: FactRow,
    *,
    importance: float,
    category: str | None,
    tags: list[str],
    expires_at: float | None,
    now: float,
) -> None:
    """Fold a restated fact into the one already stored: the stronger importance, both tags."""
    merged_tags = list(dict.fromkeys([*existing.tags, *tags]))
    new_category = existing.category or category
    keep_until = None if existing.expires_at is None or expires_at is None else max(existing.expires_at, expires_at)
    await conn.execute(
        "UPDATE facts SET importance = ?, category = ?, tags = ?, expires_at = ?, updated_at = ? WHERE id = ?",
        (max(existing.importance, importance), new_category, json.dumps(merged_tags), keep_until, now, existing.id),
    )
    if merged_tags != existing.tags or new_category != existing.category:
        await conn.execute("DELETE FROM fact_fts WHERE rowid = ?", (existing.id,))
        await conn.execute(
            "INSERT INTO fact_fts (rowid, content, tags, category) VALUES (?, ?, ?, ?)",
            (existing.id, existing.content, " ".join(merged_tags), new_category or ""),
        )


async def mark_superseded(conn: aiosqlite.Connection, old_id: int, new_id: int, now: float) -> None:
    await conn.execute("UPDATE facts SET superseded_by = ?, updated_at = ? WHERE id = ?", (new_id, now, old_id))
    await conn.execute("UPDATE facts SET supersedes = ? WHERE id = ? AND supersedes IS NULL", (old_id, new_id))


async def touch(conn: aiosqlite.Connection, user_id: str, ids: Sequence[int], now: float) -> None:
    """Record that these facts were handed to a caller."""
    await conn.executemany(
        "UPDATE facts SET last_accessed_at = ?, access_count = access_count + 1 WHERE id = ? AND user_id = ?",
        [(now, fact_id, user_id) for fact_id in ids],
    )


async def history_of(conn: aiosqlite.Connection, user_id: str, fact_id: int) -> list[int]:
    """The fact and every older fact it replaced, following `supersedes` links."""
    rows = await fetch_all(
        conn,
        "WITH RECURSIVE chain(id) AS (SELECT ? UNION SELECT f.supersedes FROM facts f JOIN chain c ON f.id = c.id "
        "WHERE f.user_id = ? AND f.supersedes IS NOT NULL) SELECT id FROM chain",
        [fact_id, user_id],
    )
    return [row[0] for row in rows]


async def from_session(conn: aiosqlite.Connection, user_id: str, session_id: str, category: str) -> list[int]:
    """Facts of one category remembered from one session (the session may have ended since)."""
    rows = await fetch_all(
        conn,
        "SELECT id FROM facts WHERE user_id = ? AND source_session = ? AND category = ? ORDER BY id",
        [user_id, session_id, category],
    )
    return [row[0] for row in rows]


async def erase(conn: aiosqlite.Connection, ids: Sequence[int]) -> None:
    """Physically delete facts with their vectors and full-text rows (secure_delete is on)."""
    if not ids:
        return
    marks = ",".join("?" * len(ids))
    await conn.execute(f"UPDATE facts SET supersedes = NULL WHERE supersedes IN ({marks})", list(ids))
    await conn.execute(f"UPDATE facts SET superseded_by = NULL WHERE superseded_by IN ({marks})", list(ids))
    await conn.execute(f"DELETE FROM fact_fts WHERE rowid IN ({marks})", list(ids))
    await conn.execute(f"DELETE FROM fact_vectors WHERE fact_id IN ({marks})", list(ids))
    await conn.execute(f"DELETE FROM facts WHERE id IN ({marks})", list(ids))


async def expired_ids(conn: aiosqlite.Connection, now: float) -> list[int]:
    rows = await fetch_all(conn, "SELECT id FROM facts WHERE expires_at IS NOT NULL AND expires_at <= ?", [now])
    return [row[0] for row in rows]
