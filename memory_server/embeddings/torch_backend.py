"""The torch backend (`embeddings.backend = "torch"`): for models with no ONNX export, and
for `doctor --torch`. Imports torch and sentence-transformers when built, never before."""

from __future__ import annotations

from collections.abc import Sequence

from memory_server.config import EmbeddingSettings
from memory_server.embeddings.base import Vector
from memory_server.embeddings.source import ModelSource
from memory_server.errors import EmbeddingError


class SentenceTransformerEncoder:
    def __init__(self, settings: EmbeddingSettings, *, threads: int | None = None) -> None:
        import torch

        from memory_server.embeddings.export import load_sentence_transformer

        torch.set_num_threads(threads or settings.threads)
        self._model = load_sentence_transformer(ModelSource.of(settings.model), device=settings.device)
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
