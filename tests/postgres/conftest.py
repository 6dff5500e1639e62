"""Fixtures only the Postgres tests use: one cluster per test session."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres.cluster import Cluster, running_cluster


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Cluster]:
    with tempfile.TemporaryDirectory(prefix="memory-server-pg-") as folder, running_cluster(Path(folder)) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def postgres_url(postgres_cluster: Cluster) -> str:
    return postgres_cluster.url
