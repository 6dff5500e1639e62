"""The in-memory vector index answers as sqlite-vec's scan of the file does, and stays in step
with every write: its own process's, another process's, rolled back, erased, rewritten."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import aiosqlite
import pytest

from memory_server.config import Settings
from memory_server.store import Database, transfer, vector_log
from memory_server.store import facts as rows
from tests.conftest import make_settings
from tests.store.conftest import OpenStore

USER = "alice"
DIMENSION = 16
SERIAL = itertools.count()


def random_vector(rng: random.Random) -> list[float]:
    return [rng.gauss(0, 1) for _ in range(DIMENSION)]


def small(home: Path, **changes: object) -> Settings:
    return make_settings(home, embeddings={"dimension": DIMENSION}, **changes)


async def insert(conn: aiosqlite.Connection, db: Database, vector: list[float], user: str = USER) -> int:
    return await rows.insert_fact(
        conn,
        user_id=user,
        content=f"fact {next(SERIAL)}",
        key=f"fact {next(SERIAL)}",
        category=None,
        tags=[],
        importance=0.5,
        now=db.clock(),
        expires_at=None,
        supersedes=None,
        source_session=None,
        vector=vector,
    )


async def add(db: Database, vector: list[float], user: str = USER) -> int:
    async with db.write() as conn:
        return await insert(conn, db, vector, user)


async def both_ways(
    db: Database, query: list[float], k: int, user: str = USER
) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """(from the index, from sqlite-vec's scan) in one snapshot."""
    async with db.read() as conn:
        kept = await rows.nearest(conn, user, query, k, index=db.vectors)
        scanned = await rows.nearest(conn, user, query, k)
    return kept, scanned


def assert_same(kept: list[tuple[int, float]], scanned: list[tuple[int, float]]) -> None:
    assert [i for i, _ in kept] == [i for i, _ in scanned]
    assert [s for _, s in kept] == pytest.approx([s for _, s in scanned], abs=1e-5)


async def test_the_index_ranks_as_sqlite_vec_does(store: OpenStore, tmp_path: Path) -> None:
    rng = random.Random(1)
    async with store(small(tmp_path), keep_vectors=True) as db:
        for _ in range(300):
            await add(db, random_vector(rng))
        for k in (1, 8, 120, 1000):
            assert_same(*await both_ways(db, random_vector(rng), k))


async def test_a_vector_with_no_direction_ranks_at_similarity_zero(store: OpenStore, tmp_path: Path) -> None:
    """sqlite-vec's scan puts it first (its distance is NULL); the index ranks it where 0 falls."""
    async with store(small(tmp_path), keep_vectors=True) as db:
        near = await add(db, [1.0] + [0.0] * (DIMENSION - 1))
        blank = await add(db, [0.0] * DIMENSION)
        far = await add(db, [-1.0] + [0.0] * (DIMENSION - 1))
        kept, _ = await both_ways(db, [1.0] * DIMENSION, 3)
        assert kept == [(near, pytest.approx(0.25)), (blank, 0.0), (far, pytest.approx(-0.25))]


async def test_a_write_by_another_process_is_seen_by_the_next_search(store: OpenStore, tmp_path: Path) -> None:
    rng = random.Random(2)
    settings = small(tmp_path)
    async with store(settings, keep_vectors=True) as server, store(settings) as other:
        for _ in range(20):
            await add(server, random_vector(rng))
        await both_ways(server, random_vector(rng), 5)  # the index is loaded now
        query = random_vector(rng)
        newcomer = await add(other, query)
        kept, scanned = await both_ways(server, query, 5)
        assert kept[0][0] == newcomer
        assert_same(kept, scanned)
        async with other.write() as conn:
            await rows.erase(conn, [newcomer])
        kept, scanned = await both_ways(server, query, 5)
        assert newcomer not in [i for i, _ in kept]
        assert_same(kept, scanned)


async def test_a_rolled_back_write_leaves_no_trace_in_the_index(store: OpenStore, tmp_path: Path) -> None:
    rng = random.Random(3)
    async with store(small(tmp_path), keep_vectors=True) as db:
        for _ in range(10):
            await add(db, random_vector(rng))
        query = random_vector(rng)
        with pytest.raises(RuntimeError):
            await add_then_give_up(db, query)
        kept, scanned = await both_ways(db, query, 11)
        assert len(kept) == 10
        assert_same(kept, scanned)


async def add_then_give_up(db: Database, vector: list[float]) -> None:
    async with db.write() as conn:
        await insert(conn, db, vector)
        # Inside the write, the index sees the new fact ...
        assert (await rows.nearest(conn, USER, vector, 1, index=db.vectors))[0][1] == pytest.approx(1.0)
        raise RuntimeError("the caller gives up")  # ... which is then rolled back


async def test_vectors_rewritten_in_place_are_read_again(store: OpenStore, tmp_path: Path) -> None:
    rng = random.Random(4)
    async with store(small(tmp_path), keep_vectors=True) as db:
        ids = [await add(db, random_vector(rng)) for _ in range(10)]
        await both_ways(db, random_vector(rng), 3)
        query = random_vector(rng)
        async with db.write() as conn:
            await transfer.replace_vectors(conn, [(ids[4], USER, query)])
        kept, scanned = await both_ways(db, query, 3)
        assert kept[0] == (ids[4], pytest.approx(1.0))
        assert_same(kept, scanned)


async def test_an_index_older_than_the_pruned_log_reloads(store: OpenStore, tmp_path: Path) -> None:
    rng = random.Random(5)
    settings = small(tmp_path)
    async with store(settings, keep_vectors=True) as server, store(settings) as other:
        first = await add(server, random_vector(rng))
        await both_ways(server, random_vector(rng), 3)
        added = [await add(other, random_vector(rng)) for _ in range(5)]
        async with other.write() as conn:
            await vector_log.prune(conn, keep=1)  # the log no longer holds the first four
        query = random_vector(rng)
        kept, scanned = await both_ways(server, query, 10)
        assert {i for i, _ in kept} == {first, *added}
        assert_same(kept, scanned)


async def test_each_user_sees_only_their_own_vectors_even_when_memory_is_short(
    store: OpenStore, tmp_path: Path
) -> None:
    rng = random.Random(6)
    # A cap below one user's matrix: users are let go and reloaded, answers stay the same.
    async with store(small(tmp_path, store={"vector_cache_mib": 1}), keep_vectors=True) as db:
        assert db.vectors is not None
        db.vectors.max_bytes = 1
        mine = {await add(db, random_vector(rng), user="alice") for _ in range(30)}
        theirs = {await add(db, random_vector(rng), user="bob") for _ in range(30)}
        for _ in range(3):
            for user, owned in (("alice", mine), ("bob", theirs)):
                kept, scanned = await both_ways(db, random_vector(rng), 50, user=user)
                assert {i for i, _ in kept} == owned
                assert_same(kept, scanned)
