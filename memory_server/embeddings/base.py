"""What the domain needs from a model, and the deterministic fake used by logic tests."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from typing import Protocol

from memory_server.config import DEFAULT_MODEL

Vector = list[float]


class Encoder(Protocol):
    """Unit-length vectors for a batch of texts."""

    model_id: str
    dimension: int

    def encode(self, texts: Sequence[str]) -> list[Vector]: ...


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
