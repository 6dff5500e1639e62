"""Shared fixtures: real encrypted databases in temporary folders, an injected clock, and
either the deterministic fake encoder (logic tests) or the real model (meaning tests)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from memory_server.app import Memory, open_memory
from memory_server.clock import ManualClock
from memory_server.config import Settings
from memory_server.embeddings import Encoder, FakeEncoder, ReadyEmbedder

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def make_settings(home: Path, **changes: object) -> Settings:
    data: dict[str, object] = {"home": home, "user": "alice", "store": {"synchronous": "NORMAL"}}
    data.update(changes)
    return Settings.model_validate(data)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def memory(settings: Settings, clock: ManualClock) -> AsyncIterator[Memory]:
    """An open memory on a fresh encrypted file, with the fake encoder, keeping vectors in
    memory as the server does."""
    async with open_memory(settings, embedder=ReadyEmbedder(FakeEncoder()), clock=clock, keep_vectors=True) as opened:
        yield opened


@pytest.fixture(scope="session")
def real_encoder() -> Iterator[Encoder]:
    """The real all-MiniLM-L6-v2 on the serving path (ONNX Runtime on the graph set-up
    prepared), loaded once for the whole run."""
    from memory_server.embeddings import load_encoder

    return load_encoder(Settings(user="alice").embeddings)


@pytest.fixture
async def real_memory(settings: Settings, clock: ManualClock, real_encoder: Encoder) -> AsyncIterator[Memory]:
    """An open memory on a fresh encrypted file, with the real model, as the server opens it."""
    async with open_memory(settings, embedder=ReadyEmbedder(real_encoder), clock=clock, keep_vectors=True) as opened:
        yield opened
