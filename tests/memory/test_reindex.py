import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from memory_server import embeddings
from memory_server.app import Memory, open_memory
from memory_server.cli import main
from memory_server.clock import ManualClock
from memory_server.config import Settings
from memory_server.embeddings import FakeEncoder, ReadyEmbedder, Vector
from memory_server.errors import ModelMismatchError
from memory_server.memory.facts import NewFact, SearchRequest
from memory_server.memory.reindex import reindex
from tests.conftest import make_settings

OLD = {"model": "model-a", "dimension": 384}
NEW = {"model": "model-b", "dimension": 64}
WORDS = "amber basil cedar delta ember falcon garnet harbor indigo jasper kelp lantern meadow nectar orchid".split()
FACTS = [f"Likes {WORDS[i % 15]} and {WORDS[(i * 7 + 3) % 15]}, entry {i}" for i in range(20)]


class CountingEncoder(FakeEncoder):
    """The fake model that counts what it embeds, and can stop working after some batches (a kill)."""

    def __init__(self, dimension: int, model_id: str, *, fail_after: int | None = None) -> None:
        super().__init__(dimension, model_id)
        self.fail_after = fail_after
        self.batches = 0
        self.texts = 0

    def encode(self, texts: Sequence[str]) -> list[Vector]:
        if self.fail_after is not None and self.batches >= self.fail_after:
            raise RuntimeError("killed")
        self.batches += 1
        self.texts += len(texts)
        return super().encode(texts)


def settings_for(home: Path, model: dict[str, Any]) -> Settings:
    return make_settings(home, embeddings=model)


async def stored_with_old_model(home: Path, clock: ManualClock) -> None:
    async with open_memory(
        settings_for(home, OLD), embedder=ReadyEmbedder(FakeEncoder(384, "model-a")), clock=clock
    ) as m:
        for content in FACTS:
            await m.facts.remember("alice", NewFact(content=content))


async def run_reindex(home: Path, clock: ManualClock, encoder: FakeEncoder, **options: Any) -> Any:
    async with open_memory(
        settings_for(home, NEW), embedder=ReadyEmbedder(encoder), clock=clock, check_model=False
    ) as m:
        return await reindex(m.db, m.embedder, m.settings.embeddings, **options)


async def vector_sizes(m: Memory) -> list[int]:
    async with m.db.read() as conn:
        rows = await m.db.fetchall(conn, "SELECT vec_length(embedding) FROM fact_vectors")
    return [row[0] for row in rows]


async def test_reindex_moves_every_fact_to_a_model_of_another_dimension(tmp_path: Path, clock: ManualClock) -> None:
    await stored_with_old_model(tmp_path, clock)
    with pytest.raises(ModelMismatchError, match="memory-server reindex"):
        async with open_memory(settings_for(tmp_path, NEW), embedder=ReadyEmbedder(FakeEncoder(64, "model-b"))):
            pass

    encoder = CountingEncoder(64, "model-b")
    result = await run_reindex(tmp_path, clock, encoder, batch=6)

    assert (result.status, result.facts, result.previous_model, result.previous_dimension) == (
        "reindexed",
        len(FACTS),
        "model-a",
        384,
    )
    assert encoder.batches == 4
    async with open_memory(
        settings_for(tmp_path, NEW), embedder=ReadyEmbedder(FakeEncoder(64, "model-b")), clock=clock
    ) as m:
        assert await vector_sizes(m) == [64] * len(FACTS)
        meta = await m.db.meta()
        assert (meta["embedding_model"], meta["embedding_dimension"]) == ("model-b", "64")
        assert not any(key.startswith("reindex_") for key in meta)
        hits = (await m.facts.search("alice", SearchRequest(query="entry 17"))).hits
        assert hits[0].fact.content == FACTS[17]


async def test_a_stopped_reindex_resumes_after_the_last_batch_it_committed(tmp_path: Path, clock: ManualClock) -> None:
    await stored_with_old_model(tmp_path, clock)
    with pytest.raises(RuntimeError, match="killed"):
        await run_reindex(tmp_path, clock, CountingEncoder(64, "model-b", fail_after=2), batch=6)
    for half_done in (NEW, OLD):  # no server uses a store with vectors of two models
        with pytest.raises(ModelMismatchError, match="has not finished"):
            async with open_memory(settings_for(tmp_path, half_done), embedder=ReadyEmbedder(FakeEncoder())):
                pass

    encoder = CountingEncoder(64, "model-b")
    result = await run_reindex(tmp_path, clock, encoder, batch=6)

    assert result.facts == len(FACTS) - 12 == encoder.texts
    async with open_memory(
        settings_for(tmp_path, NEW), embedder=ReadyEmbedder(FakeEncoder(64, "model-b")), clock=clock
    ) as m:
        async with m.db.read() as conn:
            ids = [row[0] for row in await m.db.fetchall(conn, "SELECT id FROM facts ORDER BY id")]
        assert result.resumed_after_id == ids[11]  # the last fact of the second batch of 6
        assert await vector_sizes(m) == [64] * len(FACTS)


async def test_reindex_with_the_recorded_model_has_nothing_to_do_unless_forced(
    tmp_path: Path, clock: ManualClock
) -> None:
    await stored_with_old_model(tmp_path, clock)
    encoder = CountingEncoder(384, "model-a")
    async with open_memory(settings_for(tmp_path, OLD), embedder=ReadyEmbedder(encoder), clock=clock) as m:
        idle = await reindex(m.db, m.embedder, m.settings.embeddings)
        forced = await reindex(m.db, m.embedder, m.settings.embeddings, force=True)
        assert await vector_sizes(m) == [384] * len(FACTS)
    assert (idle.status, idle.facts) == ("up to date", 0)
    assert (forced.status, forced.facts, encoder.texts) == ("reindexed", len(FACTS), len(FACTS))


def test_the_reindex_command_re_embeds_with_the_configured_model(
    tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    asyncio.run(stored_with_old_model(tmp_path, clock))
    monkeypatch.setattr(embeddings, "load_encoder", lambda s, threads=None: FakeEncoder(s.dimension, s.model))
    env = {"MEMORY_SERVER_MODEL": "model-b", "MEMORY_SERVER_EMBEDDINGS__DIMENSION": "64", "HF_HUB_OFFLINE": "1"}
    home = ["--home", str(tmp_path), "--user", "alice"]

    refused = CliRunner().invoke(main, [*home, "facts", "list"], env=env)
    assert refused.exit_code == 1 and "memory-server reindex" in refused.output
    before = CliRunner().invoke(main, [*home, "stats", "--json"], env=env)  # inspection works regardless
    assert json.loads(before.stdout)["store"]["model"] == "model-a"

    result = CliRunner().invoke(main, [*home, "reindex", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["facts"] == len(FACTS)
    again = CliRunner().invoke(main, [*home, "reindex"], env=env)
    assert "up to date" in again.output
    after = CliRunner().invoke(main, [*home, "stats", "--json"], env=env)
    assert (json.loads(after.stdout)["store"]["model"], json.loads(after.stdout)["store"]["dimension"]) == (
        "model-b",
        64,
    )
    assert CliRunner().invoke(main, [*home, "facts", "list"], env=env).exit_code == 0
