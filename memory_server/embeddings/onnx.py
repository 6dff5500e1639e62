"""The encoder of every hot path: ONNX Runtime and the `tokenizers` library, no torch.

Pooling and normalisation follow the sentence-transformers configuration recorded in the
graph's manifest, so the vectors equal the library's own (checked when the graph was made).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from memory_server.embeddings.base import Vector
from memory_server.embeddings.graph import PreparedGraph

BATCH_SIZE = 32


class OnnxEncoder:
    def __init__(self, prepared: PreparedGraph, *, threads: int) -> None:
        import numpy as np
        import onnxruntime
        from tokenizers import Tokenizer

        self._np = np
        manifest = prepared.manifest
        self.model_id = manifest.model_id
        self.dimension = manifest.dimension
        self._pooling = manifest.pooling
        self._normalize = manifest.normalize
        self._inputs = manifest.input_names

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        # The arena keeps the largest batch's buffers for the life of the process; a server
        # mostly encodes one sentence, so plain allocations keep its memory small.
        options.enable_cpu_mem_arena = False
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(str(prepared.graph), options, providers=["CPUExecutionProvider"])
        self._tokenizer = Tokenizer.from_file(str(prepared.tokenizer))
        self._tokenizer.enable_truncation(max_length=manifest.max_seq_length)
        self._tokenizer.no_padding()

    def encode(self, texts: Sequence[str]) -> list[Vector]:
        if not texts:
            return []
        encodings = self._tokenizer.encode_batch(list(texts))
        # Batches of similar lengths pad little.
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        vectors: list[Vector] = [[] for _ in texts]
        for start in range(0, len(order), BATCH_SIZE):
            chunk = order[start : start + BATCH_SIZE]
            for index, vector in zip(chunk, self._encode_batch([encodings[i] for i in chunk]), strict=True):
                vectors[index] = vector
        return vectors

    def _encode_batch(self, encodings: list[Any]) -> list[Vector]:
        np = self._np
        width = max(len(e.ids) for e in encodings)
        shape = (len(encodings), width)
        ids = np.zeros(shape, dtype=np.int64)
        mask = np.zeros(shape, dtype=np.int64)
        types = np.zeros(shape, dtype=np.int64)
        for row, encoding in enumerate(encodings):
            length = len(encoding.ids)
            ids[row, :length] = encoding.ids
            mask[row, :length] = 1
            types[row, :length] = encoding.type_ids
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        [hidden] = self._session.run(None, {name: feeds[name] for name in self._inputs})
        weights = mask[..., None].astype(np.float32)
        if self._pooling == "cls":
            pooled = hidden[:, 0]
        elif self._pooling == "max":
            pooled = np.where(weights > 0, hidden, -1e9).max(axis=1)
        else:
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        if self._normalize:
            pooled = pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return [row.tolist() for row in pooled.astype(np.float32)]
