"""The exported graph: its vectors are sentence-transformers' own, and a cache entry that is
missing, partial, damaged, unverified or of another model is never used."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from memory_server.config import Settings
from memory_server.embeddings import load_encoder
from memory_server.embeddings.graph import GRAPH_FILE, MANIFEST_FILE, GraphCache
from memory_server.embeddings.source import ModelSource
from tests.stdio import graph_cache_dir

# Not the sentences the graph was verified on when it was made.
SENTENCES = [
    "Caroline went to the LGBTQ support group on 7 May 2023.",
    "Melanie painted a sunrise over the lake last year",
    "My flight to Reykjavík leaves at 06:45 from gate B12",
    "ok",
    "She's been learning the cello for three years and plays in a quartet now. " * 6,
]


@pytest.fixture
def source() -> ModelSource:
    return ModelSource.of(Settings(user="alice").embeddings.model)


@pytest.fixture
def cache(tmp_path: Path) -> GraphCache:
    """A private copy of the graph set-up prepared."""
    shutil.copytree(Path(graph_cache_dir()) / "models", tmp_path / "models")
    return GraphCache(tmp_path / "models")


def graph_file(cache: GraphCache) -> Path:
    [graph] = cache.root.glob(f"*/{GRAPH_FILE}")
    return graph


@pytest.mark.slow
def test_the_graphs_vectors_equal_sentence_transformers_own() -> None:
    settings = Settings(user="alice").embeddings
    onnx = np.asarray(load_encoder(settings).encode(SENTENCES))
    reference = np.asarray(load_encoder(settings.model_copy(update={"backend": "torch"})).encode(SENTENCES))
    assert (onnx * reference).sum(axis=1).min() >= 0.9999


def test_the_prepared_graph_is_found(cache: GraphCache, source: ModelSource) -> None:
    found, reason = cache.find(source)
    assert found is not None and reason == "ok"
    assert found.manifest.min_cosine >= 0.9999


def test_a_copy_with_new_file_times_is_still_found_by_its_hashes(cache: GraphCache, source: ModelSource) -> None:
    graph = graph_file(cache)
    os.utime(graph, ns=(1, 1))
    found, _ = cache.find(source)
    assert found is not None


def test_an_empty_cache_has_no_graph(tmp_path: Path, source: ModelSource) -> None:
    found, reason = GraphCache(tmp_path / "nothing").find(source)
    assert found is None and "no graph" in reason


def test_a_partial_graph_is_not_used(cache: GraphCache, source: ModelSource) -> None:
    graph = graph_file(cache)
    with graph.open("r+b") as file:
        file.truncate(graph.stat().st_size // 3)
    found, reason = cache.find(source)
    assert found is None and "partial" in reason


def test_a_damaged_graph_of_the_right_size_is_not_used(cache: GraphCache, source: ModelSource) -> None:
    graph = graph_file(cache)
    with graph.open("r+b") as file:
        file.seek(1_000_000)
        file.write(b"\x00\x01\x02\x03")
    found, reason = cache.find(source)
    assert found is None and "damaged" in reason


@pytest.mark.parametrize(
    ("change", "expected"),
    [({"model_id": "another-model"}, "not 'all-MiniLM-L6-v2'"), ({"min_cosine": 0.92}, "not verified")],
)
def test_a_graph_of_another_model_or_unverified_is_never_used(
    cache: GraphCache, source: ModelSource, change: dict[str, object], expected: str
) -> None:
    manifest = graph_file(cache).parent / MANIFEST_FILE
    manifest.write_text(json.dumps(json.loads(manifest.read_text()) | change))
    found, reason = cache.find(source)
    assert found is None and expected in reason


def test_an_unreadable_manifest_is_reported(cache: GraphCache, source: ModelSource) -> None:
    (graph_file(cache).parent / MANIFEST_FILE).write_text("{not json")
    found, reason = cache.find(source)
    assert found is None and "unreadable manifest" in reason
