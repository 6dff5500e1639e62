"""Fixtures only the Postgres tests use: one cluster per test session."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest

from memory_server.store.postgres.pool import PostgresDatabase
from tests.postgres.cluster import Cluster, running_cluster


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Cluster]:
    with tempfile.TemporaryDirectory(prefix="memory-server-pg-") as folder, running_cluster(Path(folder)) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def postgres_url(postgres_cluster: Cluster) -> str:
    return postgres_cluster.url


@pytest.fixture
async def fresh_url(postgres_url: str) -> str:
    """A database of its own per test, in the session's cluster."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    with psycopg.connect(postgres_url.replace("/postgres?", f"/{name}?"), autocommit=True) as connection:
        connection.execute("CREATE EXTENSION vector")
    return postgres_url.replace("/postgres?", f"/{name}?")


@pytest.fixture
async def database(fresh_url: str) -> AsyncIterator[PostgresDatabase]:
    db = PostgresDatabase(fresh_url, lock_timeout_ms=200)
    await db.open()
    try:
        yield db
    finally:
        await db.close()
