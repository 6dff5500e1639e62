"""Re-embed every fact with the configured model, in batches, resumably.

Progress lives in `meta` (the keys `store.meta.REINDEX_KEYS`: target model, dimension, last id), each
batch committed with it, so a killed reindex continues where it stopped. A new dimension needs
a new vector table (vec0 fixes a column's size): it is recreated, empty, in the transaction
that records the target. The recorded model changes only when every fact has its new vector.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, Field

from memory_server.config import EmbeddingSettings
from memory_server.embeddings import Embedder
from memory_server.errors import EmbeddingError, InvalidInputError
from memory_server.store import Database
from memory_server.store import meta as meta_keys
from memory_server.store import transfer as store

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""Called after each batch with (facts done in this run, facts this run has to do)."""


class ReindexResult(BaseModel):
    status: Literal["reindexed", "up to date"]
    model: str
    dimension: int
    previous_model: str | None = None
    previous_dimension: int | None = None
    facts: int = Field(0, description="Facts re-embedded by this run")
    resumed_after_id: int | None = Field(None, description="An interrupted reindex continued after this fact id")


async def reindex(
    db: Database,
    embedder: Embedder,
    settings: EmbeddingSettings,
    *,
    batch: int = 256,
    force: bool = False,
    progress: Progress | None = None,
) -> ReindexResult:
    if not 1 <= batch <= 10_000:
        raise InvalidInputError("--batch must be between 1 and 10000.")
    model, dimension = settings.model, settings.dimension
    meta = await db.meta()
    recorded_model = meta.get(meta_keys.EMBEDDING_MODEL)
    recorded_dimension = int(meta[meta_keys.EMBEDDING_DIMENSION]) if meta_keys.EMBEDDING_DIMENSION in meta else None
    resuming = meta.get(meta_keys.REINDEX_TARGET_MODEL) == model and meta.get(
        meta_keys.REINDEX_TARGET_DIMENSION
    ) == str(dimension)
    result = ReindexResult(
        status="reindexed",
        model=model,
        dimension=dimension,
        previous_model=recorded_model,
        previous_dimension=recorded_dimension,
    )
    unchanged = recorded_model is None or ((recorded_model, recorded_dimension) == (model, dimension) and not force)
    if not resuming and meta_keys.REINDEX_TARGET_MODEL not in meta and unchanged:
        await _record(db, model, dimension)
        return result.model_copy(update={"status": "up to date"})

    if resuming:
        last_id = int(meta.get(meta_keys.REINDEX_LAST_ID, "0"))
        result.resumed_after_id = last_id
    else:
        # The vector table's size: the target of an abandoned reindex, else the recorded model's.
        table_dimension = int(meta.get(meta_keys.REINDEX_TARGET_DIMENSION) or recorded_dimension or dimension)
        async with db.write() as conn:
            if table_dimension != dimension:
                await store.recreate_vectors(conn, dimension)
            await db.set_meta(conn, meta_keys.REINDEX_TARGET_MODEL, model)
            await db.set_meta(conn, meta_keys.REINDEX_TARGET_DIMENSION, str(dimension))
            await db.set_meta(conn, meta_keys.REINDEX_LAST_ID, "0")
        last_id = 0

    async with db.read() as conn:
        total = await store.count_facts_after(conn, last_id)
    done = 0
    while True:
        async with db.read() as conn:
            found = await store.facts_after(conn, last_id, batch)
        if not found:
            break
        vectors = await embedder.embed([content for _, _, content in found])
        if any(len(vector) != dimension for vector in vectors):
            raise EmbeddingError(
                f"The model {model!r} made vectors of another size than embeddings.dimension = {dimension}. "
                "Set embeddings.dimension to the model's size, then run reindex again (it resumes)."
            )
        async with db.write() as conn:
            await store.replace_vectors(
                conn, [(fact_id, user_id, vector) for (fact_id, user_id, _), vector in zip(found, vectors, strict=True)]
            )
            await db.set_meta(conn, meta_keys.REINDEX_LAST_ID, str(found[-1][0]))
        last_id = found[-1][0]
        done += len(found)
        if progress:
            progress(done, max(total, done))
    await _record(db, model, dimension)
    log.info("reindexed %d facts with %s (%d dimensions)", done, model, dimension)
    return result.model_copy(update={"facts": done})


async def _record(db: Database, model: str, dimension: int) -> None:
    async with db.write() as conn:
        await db.set_meta(conn, meta_keys.EMBEDDING_MODEL, model)
        await db.set_meta(conn, meta_keys.EMBEDDING_DIMENSION, str(dimension))
        await conn.execute(
            f"DELETE FROM meta WHERE key IN ({','.join('?' * len(meta_keys.REINDEX_KEYS))})", meta_keys.REINDEX_KEYS
        )
