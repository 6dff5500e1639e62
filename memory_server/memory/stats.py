"""What a store holds for one user, per layer: counts, what awaits the sweeper, time ranges, sizes."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from memory_server.clock import iso
from memory_server.store import Database
from memory_server.store import meta as meta_keys
from memory_server.store import stats as rows
from memory_server.store.stats import Range

SECONDS_PER_DAY = 86_400.0


class LayerStats(BaseModel):
    counts: dict[str, int]
    oldest: str | None = Field(None, description="Earliest time of a row in this layer (UTC)")
    newest: str | None = Field(None, description="Latest time of a row in this layer (UTC)")


class StoreStats(BaseModel):
    path: str
    database_bytes: int
    wal_bytes: int
    model: str | None
    dimension: int | None
    schema_steps: list[str]


class Stats(BaseModel):
    user: str
    store: StoreStats
    facts: LayerStats
    categories: dict[str, int] = Field(description="Live facts per category ('' for none)")
    sessions: LayerStats
    checkpoints: LayerStats
    tool_calls: LayerStats
    audit: LayerStats | None = Field(None, description="Present when the store has an audit table")


def _layer(found: tuple[dict[str, int], Range]) -> LayerStats:
    counts, (oldest, newest) = found
    return LayerStats(
        counts=counts,
        oldest=iso(oldest) if oldest is not None else None,
        newest=iso(newest) if newest is not None else None,
    )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


async def collect(db: Database, user_id: str) -> Stats:
    now = db.clock()
    stale_before = now - db.settings.checkpoints.ttl_days * SECONDS_PER_DAY
    async with db.read() as conn:
        facts = await rows.facts(conn, user_id, now)
        categories = await rows.categories(conn, user_id, now)
        sessions = await rows.sessions(conn, user_id, now)
        checkpoints = await rows.checkpoints(conn, user_id, stale_before)
        tool_calls = await rows.tool_calls(conn, user_id)
        audit = await rows.audit(conn, user_id)
    meta = await db.meta()
    dimension = meta.get(meta_keys.EMBEDDING_DIMENSION)
    return Stats(
        user=user_id,
        store=StoreStats(
            path=str(db.path),
            database_bytes=_size(db.path),
            wal_bytes=_size(db.path.with_name(db.path.name + "-wal")),
            model=meta.get(meta_keys.EMBEDDING_MODEL),
            dimension=int(dimension) if dimension and dimension.isdigit() else None,
            schema_steps=await db.applied_migrations(),
        ),
        facts=_layer(facts),
        categories=categories,
        sessions=_layer(sessions),
        checkpoints=_layer(checkpoints),
        tool_calls=_layer(tool_calls),
        audit=_layer(audit) if audit is not None else None,
    )
