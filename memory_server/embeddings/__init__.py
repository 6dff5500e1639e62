"""Sentence embeddings: the encoder loaded off the event loop, and a fake for tests.

`BackgroundEmbedder.start()` loads the encoder in a worker thread (ONNX Runtime on an
exported graph by default: `graph`, `onnx`); the MCP handshake never waits for it, and the
first call that needs a vector waits for the load to finish. Encoding runs in that same
worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

from memory_server.config import EmbeddingSettings
from memory_server.embeddings.base import Encoder, FakeEncoder, Vector
from memory_server.embeddings.source import resolve_model_location
from memory_server.errors import EmbeddingError

__all__ = [
    "BackgroundEmbedder",
    "Embedder",
    "Encoder",
    "FakeEncoder",
    "ReadyEmbedder",
    "Vector",
    "load_encoder",
    "resolve_model_location",
]

log = logging.getLogger(__name__)


def load_encoder(settings: EmbeddingSettings, *, threads: int | None = None) -> Encoder:
    """The configured encoder, ready to encode. `threads` overrides `embeddings.threads`
    (batch commands use more)."""
    threads = threads or settings.threads
    if settings.backend == "torch":
        from memory_server.embeddings.torch_backend import SentenceTransformerEncoder

        return SentenceTransformerEncoder(settings, threads=threads)
    from memory_server.embeddings import graph
    from memory_server.embeddings.onnx import OnnxEncoder

    prepared = graph.ensure(settings)
    if prepared.manifest.dimension != settings.dimension:
        raise EmbeddingError(
            f"Model {settings.model!r} makes {prepared.manifest.dimension}-dimensional vectors but "
            f"embeddings.dimension is {settings.dimension}. Set embeddings.dimension = {prepared.manifest.dimension}."
        )
    return OnnxEncoder(prepared, threads=threads)


class Embedder(Protocol):
    """The async face the domain uses."""

    @property
    def state(self) -> str: ...

    def start(self) -> None:
        """Begin loading the model if it is not loaded; returns at once."""

    async def embed(self, texts: Sequence[str]) -> list[Vector]: ...


class BackgroundEmbedder:
    """Loads an encoder in a worker thread and encodes there; awaitable from the event loop."""

    def __init__(self, settings: EmbeddingSettings, *, threads: int | None = None) -> None:
        self._settings = settings
        self._threads = threads
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedder")
        self._loading: Future[Encoder] | None = None
        self.load_seconds: float | None = None

    def start(self) -> None:
        """Begin loading now; returns at once."""
        if self._loading is None:
            self._loading = self._executor.submit(self._load)

    def _load(self) -> Encoder:
        started = time.perf_counter()
        encoder = load_encoder(self._settings, threads=self._threads)
        self.load_seconds = time.perf_counter() - started
        log.info(
            "embedding model %s (%s) loaded in %.2fs", self._settings.model, self._settings.backend, self.load_seconds
        )
        return encoder

    @property
    def state(self) -> str:
        if self._loading is None:
            return "not started"
        if not self._loading.done():
            return "loading"
        return "failed" if self._loading.exception() else "ready"

    async def encoder(self) -> Encoder:
        self.start()
        assert self._loading is not None
        try:
            return await asyncio.wrap_future(self._loading)
        except EmbeddingError:
            raise
        except Exception as error:
            raise EmbeddingError(f"The embedding model failed to load: {error}") from error

    async def embed(self, texts: Sequence[str]) -> list[Vector]:
        encoder = await self.encoder()
        return await asyncio.wrap_future(self._executor.submit(encoder.encode, texts))

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class ReadyEmbedder:
    """Wraps an encoder that is already loaded (tests, the fake); still encodes off the loop."""

    def __init__(self, encoder: Encoder) -> None:
        self._encoder = encoder

    @property
    def state(self) -> str:
        return "ready"

    def start(self) -> None:
        pass

    async def embed(self, texts: Sequence[str]) -> list[Vector]:
        return await asyncio.to_thread(self._encoder.encode, texts)
