"""The user's fact vectors held in this process's memory, kept in step with the file.

sqlite-vec's `vec0` stores the vectors and is the source of truth, but its brute-force scan
costs ~9 ms per 10k vectors on this class of machine (the same in clear and encrypted files),
while a matrix product over the same vectors costs ~1 ms. A long-lived process (the server,
an import) therefore keeps each user's vectors as a normalised float32 matrix and asks the
file only what changed since it last looked.

What changed is recorded by the file itself: triggers on `facts` append to `vector_log` (one
row per fact added or removed, in the writer's own transaction, so a rolled-back write leaves
no trace), and code that rewrites vectors in place (`reindex`) appends rows for them. Any
process's writes are seen the same way, so several servers on one file stay correct. When the
log was pruned past what an index has seen, the index reloads the user's vectors from `vec0`.

This module is the only one that imports numpy, and `Database` imports it only when it keeps
vectors: the MCP handshake does not wait for numpy (see `store/vector_log.py` for the log).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import aiosqlite
import numpy as np

from memory_server.errors import ModelMismatchError
from memory_server.store import meta as meta_keys
from memory_server.store import vector_log
from memory_server.store.sql import fetch_all

LOAD_BATCH = 1_000
_NEVER = 2**62  # no seq is above it: an index about to load needs no changes


@dataclass
class _UserVectors:
    """One user's vectors: rows [0, size) of `matrix`, their fact ids in `ids`."""

    dimension: int
    seen: int = 0
    size: int = 0
    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    matrix: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    rows: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.matrix = np.zeros((0, self.dimension), dtype=np.float32)

    @property
    def nbytes(self) -> int:
        return int(self.matrix.nbytes + self.ids.nbytes)

    def put(self, fact_id: int, vector: np.ndarray) -> None:
        row = self.rows.get(fact_id)
        if row is None:
            if self.size == len(self.ids):  # grow by doubling: appends stay cheap on average
                capacity = max(64, 2 * self.size)
                self.ids = np.resize(self.ids, capacity)
                grown = np.zeros((capacity, self.dimension), dtype=np.float32)
                grown[: self.size] = self.matrix[: self.size]
                self.matrix = grown
            row, self.size = self.size, self.size + 1
            self.rows[fact_id] = row
            self.ids[row] = fact_id
        self.matrix[row] = vector

    def get(self, fact_id: int) -> np.ndarray | None:
        row = self.rows.get(fact_id)
        return None if row is None else self.matrix[row].copy()

    def drop(self, fact_id: int) -> None:
        row = self.rows.pop(fact_id, None)
        if row is None:
            return
        last = self.size - 1
        if row != last:  # the last row fills the hole
            moved = int(self.ids[last])
            self.ids[row], self.matrix[row] = moved, self.matrix[last]
            self.rows[moved] = row
        self.size = last

    def nearest(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        if self.size == 0 or k <= 0:
            return []
        similarity = self.matrix[: self.size] @ query
        ids = self.ids[: self.size]
        head = np.argpartition(-similarity, k - 1)[:k] if k < self.size else np.arange(self.size)
        # Best first; equal similarities in id order, so a ranking does not depend on row order.
        order = head[np.lexsort((ids[head], -similarity[head]))]
        return [(int(ids[i]), float(similarity[i])) for i in order]


def _unit(vector: np.ndarray) -> np.ndarray:
    """Scaled to length 1, so a dot product is the cosine; a zero vector stays zero (similarity 0,
    as sqlite-vec reports a vector with no direction)."""
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


class VectorIndex:
    """Per-user vector matrices of one process, at most `max_bytes` in all (the users used
    least recently are let go first)."""

    def __init__(self, dimension: int, max_bytes: int) -> None:
        self.dimension = dimension
        self.max_bytes = max_bytes
        self._users: OrderedDict[str, _UserVectors] = OrderedDict()
        self._undo: list[Callable[[], None]] | None = None

    # A write transaction can show the index its own uncommitted facts (the second fact of a
    # batch merges into the first): what it learns then is undone if the transaction rolls back.

    def begin(self) -> None:
        self._undo = []

    def commit(self) -> None:
        self._undo = None

    def rollback(self) -> None:
        for step in reversed(self._undo or []):
            step()
        self._undo = None

    async def nearest(
        self, conn: aiosqlite.Connection, user_id: str, vector: Sequence[float], k: int
    ) -> list[tuple[int, float]]:
        """Nearest facts by cosine similarity, as (fact_id, similarity), best first. Call inside
        a read or write transaction: the index is brought up to that transaction's view."""
        vectors = await self._current(conn, user_id)
        return vectors.nearest(_unit(np.asarray(vector, dtype=np.float32)), k)

    async def warm(self, conn: aiosqlite.Connection, user_id: str) -> None:
        """Bring the user's matrix up to date now."""
        await self._current(conn, user_id)

    async def _current(self, conn: aiosqlite.Connection, user_id: str) -> _UserVectors:
        vectors = self._users.get(user_id)
        # One query: the log's floor (seq -1) and what changed since this index last looked.
        rows = await fetch_all(
            conn,
            "SELECT -1, CAST(value AS INTEGER), 0 FROM meta WHERE key = ? UNION ALL "
            "SELECT * FROM (SELECT seq, fact_id, added FROM vector_log WHERE user_id = ? AND seq > ? ORDER BY seq)",
            [meta_keys.VECTOR_LOG_FLOOR, user_id, vectors.seen if vectors is not None else _NEVER],
        )
        floor = next((int(fact_id) for seq, fact_id, _ in rows if seq == -1), 0)
        changes = [row for row in rows if row[0] != -1]
        if vectors is None or vectors.seen < floor:
            previous, vectors = vectors, await self._load(conn, user_id)
            self._on_rollback(lambda: self._restore(user_id, previous))
        elif changes:
            await self._apply(conn, vectors, changes)
        self._users[user_id] = vectors
        self._users.move_to_end(user_id)
        self._evict(keep=user_id)
        return vectors

    async def _load(self, conn: aiosqlite.Connection, user_id: str) -> _UserVectors:
        vectors = _UserVectors(self.dimension, seen=await vector_log.last_seq(conn))
        ids = [row[0] for row in await fetch_all(conn, "SELECT id FROM facts WHERE user_id = ?", [user_id])]
        for start in range(0, len(ids), LOAD_BATCH):
            await self._read_into(conn, vectors, ids[start : start + LOAD_BATCH])
        return vectors

    async def _apply(self, conn: aiosqlite.Connection, vectors: _UserVectors, changes: list[tuple[int, ...]]) -> None:
        latest: dict[int, bool] = {}
        for _, fact_id, added in changes:
            latest[int(fact_id)] = bool(added)
        if self._undo is not None:
            seen, before = vectors.seen, {fact_id: vectors.get(fact_id) for fact_id in latest}
            self._on_rollback(lambda: _revert(vectors, seen, before))
        for fact_id, added in latest.items():
            if not added:
                vectors.drop(fact_id)
        await self._read_into(conn, vectors, [fact_id for fact_id, added in latest.items() if added])
        vectors.seen = int(changes[-1][0])

    async def _read_into(self, conn: aiosqlite.Connection, vectors: _UserVectors, ids: list[int]) -> None:
        """The vectors of these facts from the file (a fact without one is left out)."""
        if not ids:
            return
        marks = ",".join("?" * len(ids))
        found = await fetch_all(conn, f"SELECT fact_id, embedding FROM fact_vectors WHERE fact_id IN ({marks})", ids)
        for fact_id, blob in found:
            if len(blob) != 4 * self.dimension:
                raise ModelMismatchError(
                    f"The stored vectors now have {len(blob) // 4} dimensions, not {self.dimension}: the file was "
                    "re-embedded with another model while this process ran. Restart it with that model configured."
                )
            vectors.put(int(fact_id), _unit(np.frombuffer(blob, dtype="<f4")))

    def _on_rollback(self, step: Callable[[], None]) -> None:
        if self._undo is not None:
            self._undo.append(step)

    def _restore(self, user_id: str, vectors: _UserVectors | None) -> None:
        if vectors is None:
            self._users.pop(user_id, None)
        else:
            self._users[user_id] = vectors

    def _evict(self, keep: str) -> None:
        total = sum(v.nbytes for v in self._users.values())
        while total > self.max_bytes and len(self._users) > 1:
            user_id = next(iter(self._users))
            if user_id == keep:
                break
            total -= self._users.pop(user_id).nbytes

    def forget(self) -> None:
        """Drop every user's matrix (the next use reloads)."""
        self._users.clear()


def _revert(vectors: _UserVectors, seen: int, before: dict[int, np.ndarray | None]) -> None:
    for fact_id, vector in before.items():
        if vector is None:
            vectors.drop(fact_id)
        else:
            vectors.put(fact_id, vector)
    vectors.seen = seen
